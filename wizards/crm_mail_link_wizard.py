from odoo import api, fields, models
from odoo.exceptions import UserError


class CrmMailLinkWizard(models.TransientModel):
    """Link one or many mails to a lead, a company or a contact by hand."""

    _name = "crm.mail.link.wizard"
    _description = "Link Mail"

    message_ids = fields.Many2many("crm.mail.message", string="Mails")
    message_count = fields.Integer(compute="_compute_message_count")
    lead_id = fields.Many2one("crm.lead", string="Lead")
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        help="Left empty with a contact chosen: the contact's company.",
    )
    contact_id = fields.Many2one("res.partner", string="Contact")

    @api.depends("message_ids")
    def _compute_message_count(self):
        for wizard in self:
            wizard.message_count = len(wizard.message_ids)

    @api.onchange("contact_id")
    def _onchange_contact_id(self):
        if self.contact_id and not self.partner_id:
            self.partner_id = self.contact_id.commercial_partner_id

    def _link_vals(self):
        """The links to write: only what was chosen changes."""
        vals = {}
        if self.lead_id:
            vals["lead_id"] = self.lead_id.id
        if self.contact_id:
            vals["contact_id"] = self.contact_id.id
            vals["partner_id"] = (
                self.partner_id or self.contact_id.commercial_partner_id
            ).id
        elif self.partner_id:
            vals["partner_id"] = self.partner_id.id
        return vals

    def action_apply(self):
        self.ensure_one()
        vals = self._link_vals()
        if not vals:
            raise UserError(self.env._("Choose a lead, a customer or a contact."))
        if not self.message_ids:
            raise UserError(self.env._("Select at least one mail."))
        # an empty link needs the right to read the mail, a relink the
        # right to edit it (in_write / out_write): said with the reason
        self.message_ids._fill_links(vals)
        return {"type": "ir.actions.act_window_close"}
