from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression

from ..mail_engine.addresses import split_addresses


class ResPartner(models.Model):
    """The partner's mail: for a company, also the mail of its contacts.

    Computed with the current user's rights, so each user sees and counts
    only the mails he may read.
    """

    _name = "res.partner"
    _inherit = ["res.partner", "crm.mail.tab.mixin"]

    crm_mail_domain = fields.Char(
        string="Mail Domain",
        index="btree_not_null",
        copy=False,
        help="The mail domain this company was created from.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        self.env["crm.mail.address"]._refresh(partners)
        return partners

    def write(self, vals):
        res = super().write(vals)
        person, company = self.env["crm.mail.address"]._indexed_fields()
        if {"is_company", "active", "company_id", *person, *company} & set(vals):
            self.env["crm.mail.address"]._refresh(self)
        return res

    def _crm_mail_domain(self):
        # the ids themselves, not child_of: Odoo would render each as a
        # sub-query, and two sub-queries OR-ed make PostgreSQL read every
        # mail (1.5 s at a million) instead of two index lookups
        family = (
            self.with_context(active_test=False)
            .search([("id", "child_of", self.ids)])
            .ids
        )
        return ["|", ("partner_id", "in", family), ("contact_id", "in", family)]

    def action_crm_mail_relink(self):
        """Link to these partners the stored mails of their addresses."""
        rows = (
            self.env["crm.mail.address"].sudo().search([("partner_id", "in", self.ids)])
        )
        addresses = sorted(set(rows.mapped("address")))
        Message = self.env["crm.mail.message"]
        mails = Message
        if addresses:
            # the mails of these addresses only (bounded by them, not by the
            # table), the recipients' ones narrowed down exactly below
            mails = Message.search(
                expression.OR(
                    [[("email_from", "in", addresses)]]
                    + [
                        [(name, "ilike", address)]
                        for address in addresses
                        for name in ("email_to", "email_cc", "reply_to")
                    ]
                )
            )
        mails = mails.filtered(
            lambda m: (
                set(
                    [m.email_from]
                    + split_addresses(
                        f"{m.email_to or ''},{m.email_cc or ''},{m.reply_to or ''}"
                    )
                )
                & set(addresses)
            )
        )
        # filling an empty link needs the read right; replacing one, Edit
        linked = mails.filtered(lambda m: m.partner_id or m.contact_id)
        mails -= linked - linked._filtered_access("write")
        changed = mails._relink()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("Mails linked again: %s.", len(changed)),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_crm_mail_compose(self):
        """The composer addressed to these partners: one mail, or one mail
        per recipient when several are selected."""
        partners = self.filtered("email")
        if len(self) == 1 and not partners:
            # a company without an address of its own: write to its people
            partners = self.child_ids.filtered("email")
        if not partners:
            raise UserError(
                self.env._("None of the selected contacts has an e-mail address.")
            )
        mass = len(self) > 1
        return self.env["crm.mail.compose"]._action_open(
            {
                "default_partner_ids": partners.ids,
                "default_composition_mode": "mass" if mass else "single",
            },
            self.env._("Mail to %(count)s recipients", count=len(partners))
            if mass
            else self.env._("New Mail"),
        )
