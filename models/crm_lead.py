from odoo import api, fields, models

MAIL_GROUP = "crm_mail_client.group_mail_user"


class CrmLead(models.Model):
    """The lead's mail, and a mail written from the lead.

    Computed with the current user's rights, like the partner's mail tab:
    each user sees and counts only the mails he may read.
    """

    _inherit = "crm.lead"

    crm_mail_message_ids = fields.Many2many(
        "crm.mail.message",
        compute="_compute_crm_mail",
        string="Mails",
        groups=MAIL_GROUP,
    )
    crm_mail_count = fields.Integer(
        compute="_compute_crm_mail", string="Mail Count", groups=MAIL_GROUP
    )

    def _crm_mail_domain(self):
        return [("lead_id", "in", self.ids)]

    @api.depends_context("uid")
    def _compute_crm_mail(self):
        Message = self.env["crm.mail.message"]
        for lead in self:
            if not lead.id:
                lead.crm_mail_message_ids = Message
                lead.crm_mail_count = 0
                continue
            # newest first: the model's order is date desc
            mails = Message.search(lead._crm_mail_domain(), limit=200)
            lead.crm_mail_message_ids = mails
            lead.crm_mail_count = (
                len(mails)
                if len(mails) < 200
                else Message.search_count(lead._crm_mail_domain())
            )

    def action_view_crm_mail(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_message_action"
        )
        action["domain"] = self._crm_mail_domain()
        action["context"] = {"default_lead_id": self.id}
        return action

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
