from odoo import models
from odoo.exceptions import UserError


class CrmLead(models.Model):
    """The lead's mail (a Mail tab like partners'), and mail written from
    the lead: the mail and every answer to it are linked to the lead."""

    _name = "crm.lead"
    _inherit = ["crm.lead", "crm.mail.tab.mixin"]

    def _crm_mail_domain(self):
        return [("lead_id", "in", self.ids)]

    def _crm_mail_action_context(self):
        return {"default_lead_id": self.id}

    def action_crm_mail_mass_compose(self):
        """Lists of leads: one mail per lead to its contact (else to the
        lead's own address), each linked to its lead (vtiger's mass mail)."""
        if len(self) == 1:
            return self.action_crm_mail_compose()
        leads = self.filtered(lambda lead: lead.partner_id.email or lead.email_from)
        if not leads:
            raise UserError(
                self.env._("None of the selected leads has an e-mail address.")
            )
        return self.env["crm.mail.compose"]._action_open(
            {
                "default_lead_ids": leads.ids,
                "default_composition_mode": "mass",
            },
            self.env._("Mail to %(count)s leads", count=len(leads)),
        )

    def action_crm_mail_compose(self):
        """The composer for a mail from this lead: the mail and every
        answer to it are linked to the lead."""
        self.ensure_one()
        partners = self.partner_id.filtered("email")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("New Mail"),
            "res_model": "crm.mail.compose",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_lead_id": self.id,
                "default_partner_ids": partners.ids,
            },
        }
