from odoo import api, fields, models

MAIL_GROUP = "crm_mail_client.group_mail_user"


class ResPartner(models.Model):
    """The partner's mail: for a company, also the mail of its contacts.

    Computed with the current user's rights, so each user sees and counts
    only the mails he may read.
    """

    _inherit = "res.partner"

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
        return [
            "|",
            ("partner_id", "child_of", self.ids),
            ("contact_id", "child_of", self.ids),
        ]

    @api.depends_context("uid")
    def _compute_crm_mail(self):
        Message = self.env["crm.mail.message"]
        for partner in self:
            if not partner.id:
                partner.crm_mail_message_ids = Message
                partner.crm_mail_count = 0
                continue
            mails = Message.search(partner._crm_mail_domain(), limit=200)
            partner.crm_mail_message_ids = mails
            partner.crm_mail_count = (
                len(mails)
                if len(mails) < 200
                else Message.search_count(partner._crm_mail_domain())
            )

    def action_view_crm_mail(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_message_action"
        )
        action["domain"] = self._crm_mail_domain()
        action["context"] = {}
        return action
