from odoo import api, fields, models

MAIL_GROUP = "crm_mail_client.group_mail_user"
#: mails listed in the tab; the count goes on beyond
TAB_LIMIT = 200


class CrmMailTabMixin(models.AbstractModel):
    """A "Mail" tab and smart button on a record (partners, leads).

    Computed with the current user's rights: each user sees and counts only
    the mails he may read. Inheriting models say which mails are theirs in
    :meth:`_crm_mail_domain`.
    """

    _name = "crm.mail.tab.mixin"
    _description = "CRM Mail Tab"

    crm_mail_message_ids = fields.Many2many(
        "crm.mail.message",
        compute="_compute_crm_mail",
        string="Mails",
        groups=MAIL_GROUP,
    )
    crm_mail_count = fields.Integer(
        compute="_compute_crm_mail", string="Mail Count", groups=MAIL_GROUP
    )
    crm_mail_search = fields.Char(
        string="Search Mail",
        compute="_compute_crm_mail_search",
        readonly=False,
        groups=MAIL_GROUP,
        help="Words to find in this record's mail, as in the mail search box: "
        "the tab then lists only the mails that hold them.",
    )

    def _crm_mail_domain(self):
        """The domain of this record's mails (``crm.mail.message``)."""
        raise NotImplementedError

    def _crm_mail_action_context(self):
        """The context of the "Mails" smart button's list."""
        return {}

    def _crm_mail_tab_domain(self):
        """The mails the tab and its button list: spam stays in Spam."""
        return self._crm_mail_domain() + [("state", "!=", "spam")]

    def _compute_crm_mail_search(self):
        # a search box: it holds what is typed until the form is left
        self.crm_mail_search = False

    @api.depends("crm_mail_search")
    @api.depends_context("uid")
    def _compute_crm_mail(self):
        Message = self.env["crm.mail.message"]
        for record in self:
            # a form being edited holds a new record whose origin is stored
            if not record._origin.id:
                record.crm_mail_message_ids = Message
                record.crm_mail_count = 0
                continue
            domain = record._origin._crm_mail_tab_domain()
            shown = domain
            if record.crm_mail_search:
                shown = domain + [("fulltext", "ilike", record.crm_mail_search)]
            # newest first: the model's order is date desc
            mails = Message.search(shown, limit=TAB_LIMIT)
            record.crm_mail_message_ids = mails
            if shown is domain and len(mails) < TAB_LIMIT:
                record.crm_mail_count = len(mails)
            else:
                record.crm_mail_count = Message.search_count(domain)

    def action_view_crm_mail(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_message_action"
        )
        action["domain"] = self._crm_mail_tab_domain()
        action["context"] = self._crm_mail_action_context()
        return action

    def action_crm_mail_check(self):
        """ "Check Mail" on the tab: fetch the accounts the user reads now, in
        the background; the tab shows what arrives (the bus tells it)."""
        return self.env["crm.mail.message"].action_check_mail()
