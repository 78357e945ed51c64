from odoo import models


class CrmLead(models.Model):
    """The lead's mail (a Mail tab like partners'), and mail written from
    the lead: the mail and every answer to it are linked to the lead."""

    _name = "crm.lead"
    _inherit = ["crm.lead", "crm.mail.tab.mixin"]

    def _crm_mail_domain(self):
        return [("lead_id", "in", self.ids)]

    def _crm_mail_action_context(self):
        return {"default_lead_id": self.id}

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
