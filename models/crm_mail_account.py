from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..mail_engine.addresses import normalize
from ..mail_engine.presets import preset_for

SECURITY = [("ssl", "SSL/TLS"), ("starttls", "STARTTLS")]
SECRET_GROUP = "crm_mail_client.group_mail_manager"
#: where and as whom the secrets are sent: a non-administrator who changes
#: one of these clears the stored secrets (they were typed for the old
#: server, perhaps by an administrator)
CONNECTION_FIELDS = (
    "email",
    "protocol",
    "incoming_host",
    "incoming_port",
    "incoming_security",
    "login",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_same_credentials",
    "smtp_login",
    "verify_certificate",
    "ca_certificate",
)
#: the stored secrets of an account
SECRET_FIELDS = ("password", "smtp_password")


class CrmMailAccount(models.Model):
    """An external mailbox: incoming (IMAP/POP3) and outgoing (SMTP) settings.

    Fetching lives in ``crm_mail_account_fetch.py``, connection checks in
    ``crm_mail_account_connection.py``.
    """

    _name = "crm.mail.account"
    _description = "Mail Account"
    _order = "name, id"

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    name = fields.Char(required=True)
    email = fields.Char(required=True, help="The address of this mailbox.")
    active = fields.Boolean(default=True)
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        index=True,
        help="Owner of a personal mailbox. Empty: a shared mailbox.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    # incoming
    protocol = fields.Selection(
        [("imap", "IMAP"), ("pop3", "POP3")], required=True, default="imap"
    )
    use_for_receiving = fields.Boolean(
        string="Use for Receiving",
        default=True,
        help="Fetch this mailbox's mail. Off: a send-only account, never "
        "fetched (and never in error for it).",
    )
    bcc_author = fields.Boolean(
        string="Copy to the Author",
        help="Every mail sent from this account also goes to the user who "
        "wrote it (Bcc), as in vtiger: the responsible keeps his copy in his "
        "own mailbox.",
    )
    skip_own_rules_after_global = fields.Boolean(
        string="Skip Own Rules after a Global Rule",
        help="When a global routing rule fired for a mail, this account's own "
        "rules are left out (besides each rule's Stop Further Rules).",
    )
    use_for_sending = fields.Boolean(
        string="Use for Sending",
        default=True,
        help="Offer this account in From. Off: a receive-only account "
        "(forwarding, a robot's mailbox): nobody sends from it.",
    )
    incoming_host = fields.Char(string="Incoming Server")
    incoming_port = fields.Integer(default=993)
    incoming_security = fields.Selection(SECURITY, required=True, default="ssl")
    login = fields.Char()
    password = fields.Char(string="Stored Password", groups=SECRET_GROUP, copy=False)
    # outgoing
    smtp_host = fields.Char(string="SMTP Server")
    smtp_port = fields.Integer(string="SMTP Port", default=465)
    smtp_security = fields.Selection(
        SECURITY, string="SMTP Security", required=True, default="ssl"
    )
    smtp_same_credentials = fields.Boolean(
        default=True, help="Log in to SMTP with the incoming login and password."
    )
    smtp_login = fields.Char(string="SMTP Login")
    smtp_password = fields.Char(
        string="Stored SMTP Password", groups=SECRET_GROUP, copy=False
    )
    # secrets are written through these, never read back (see _inverse_*)
    password_input = fields.Char(
        string="Password",
        compute="_compute_secret_inputs",
        inverse="_inverse_password_input",
    )
    smtp_password_input = fields.Char(
        string="SMTP Password",
        compute="_compute_secret_inputs",
        inverse="_inverse_smtp_password_input",
    )
    password_set = fields.Boolean(compute="_compute_password_set")
    smtp_password_set = fields.Boolean(compute="_compute_password_set")
    # TLS
    verify_certificate = fields.Boolean(
        default=True,
        help="Refuse servers whose certificate is not trusted. Turn off only "
        "on a network you trust; prefer giving the CA certificate.",
    )
    ca_certificate = fields.Text(
        string="CA Certificate",
        help="PEM text of the certificate authority (or self-signed "
        "certificate) of a server with a private certificate.",
    )
    # options
    folder_ids = fields.One2many("crm.mail.folder", "account_id", string="Folders")
    max_per_run = fields.Integer(
        string="Mails per Run",
        default=lambda self: self._default_from_settings("max_per_run", 50),
        help="At most this many new mails are fetched per run; the rest "
        "follow in the next batch.",
    )
    timeout = fields.Integer(string="Timeout (s)", default=30)
    fetch_interval = fields.Integer(
        string="Fetch Every (min)",
        help="This mailbox is fetched at most this often by the fetch cron "
        "(whose own interval, in Settings, is the shortest). 0: at every run. "
        "Fetch Now, Check Mail and the mail watcher fetch it whenever asked.",
    )
    keep_on_server = fields.Boolean(default=True)
    mark_as_read = fields.Boolean(
        help="Mark fetched mail as read on the server (IMAP)."
    )
    sync_flags = fields.Boolean(
        string="Sync Read Marks with the Server",
        help="IMAP: reading a mail in the CRM marks it read on the server, "
        "unread removes the mark, replying marks it answered; a mail read "
        "in another mail program is read in the CRM too, and one deleted or "
        'moved away there is marked "Gone from the server". Whose marks: '
        "the owner's for a personal mailbox; for a shared mailbox, read by "
        "anybody in the CRM is read on the server.",
    )
    fetch_spam = fields.Boolean(
        string="Fetch the Spam Folder",
        help="IMAP: also fetch the server's spam folder (Junk) into the Spam "
        "view. Its mail is linked to nobody and no rule runs on it; *Not "
        "Spam* moves a mail back to the Inbox, here and on the server.",
    )
    delete_after_days = fields.Integer(
        help="Delete mail from the server this many days after it was "
        "fetched. 0: never."
    )
    delete_on_server_with_record = fields.Boolean(
        help="Deleting a mail in Odoo also deletes it on the server."
    )
    save_attachments = fields.Boolean(
        default=lambda self: self._default_from_settings("save_attachments", True)
    )
    max_attachment_mb = fields.Integer(
        string="Max Attachment Size (MB)",
        default=lambda self: self._default_from_settings("max_attachment_mb", 25),
        help="Larger attachments are not saved (the mail says so). 0: no limit.",
    )
    keep_original = fields.Boolean(
        string="Keep Original .eml", help="Attach the original message to each mail."
    )
    initial_days = fields.Integer(
        string="First Sync (days)",
        default=lambda self: self._default_from_settings("initial_days", 30),
        help="The first fetch takes mail of the last days only. 0: everything.",
    )
    upload_sent = fields.Boolean(
        string="Copy Sent Mail to Server",
        help="Append mail sent from Odoo to the server's Sent folder (IMAP).",
    )
    signature = fields.Html(sanitize=True)
    signature_with_user = fields.Boolean(
        string="Writer's Signature Too",
        help="The signature of the user who writes (his Preferences) comes "
        "above the account's: a shared mailbox signs with the name of the "
        "person writing, then the company's block.",
    )
    sender_name = fields.Char(help="Display name in From. Empty: the account name.")
    # status
    last_check = fields.Datetime(readonly=True, copy=False)
    state = fields.Selection(
        [("draft", "Not Checked"), ("ok", "Working"), ("error", "Error")],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
    )
    last_error = fields.Text(readonly=True, copy=False)
    last_error_code = fields.Char(
        readonly=True, copy=False, help="What kind of error (the engine's code)."
    )
    failure_count = fields.Integer(readonly=True, copy=False)
    provider_note = fields.Char(compute="_compute_provider_note")
    can_edit = fields.Boolean(
        compute="_compute_can_edit",
        help="The user may change the settings: its owner or a mail administrator.",
    )
    can_manage_rights = fields.Boolean(
        compute="_compute_can_edit",
        help="The user manages the incoming or outgoing rights of this account.",
    )
    message_count = fields.Integer(compute="_compute_message_count", string="Mails")
    fetch_log_ids = fields.One2many("crm.mail.fetch.log", "account_id")
    access_ids = fields.One2many(
        "crm.mail.account.access", "account_id", string="Rights", copy=False
    )

    _sql_constraints = [
        (
            "port_range",
            "CHECK(incoming_port >= 0 AND incoming_port <= 65535 "
            "AND smtp_port >= 0 AND smtp_port <= 65535)",
            "Ports are between 1 and 65535.",
        ),
        ("max_per_run_positive", "CHECK(max_per_run > 0)", "Mails per run > 0."),
    ]

    @api.model
    def _default_from_settings(self, key, default):
        value = (
            self.env["ir.config_parameter"].sudo().get_param(f"crm_mail_client.{key}")
        )
        if value in (None, False, ""):
            return default
        return value == "True" if isinstance(default, bool) else int(value)

    # ------------------------------------------------------------
    # COMPUTES
    # ------------------------------------------------------------

    def _compute_secret_inputs(self):
        self.password_input = False
        self.smtp_password_input = False

    def _inverse_password_input(self):
        self._write_secret("password", "password_input")

    def _inverse_smtp_password_input(self):
        self._write_secret("smtp_password", "smtp_password_input")

    def _write_secret(self, field, input_field):
        for account in self:
            value = account[input_field]
            if not value:
                continue  # an empty input keeps the stored secret
            account._check_secret_access()
            account.sudo()[field] = value

    def _check_secret_access(self):
        """Only administrators and the owner of a personal mailbox set secrets."""
        if self.env.su or self.env.user.has_group(SECRET_GROUP):
            return
        for account in self:
            if account.user_id != self.env.user:
                raise AccessError(
                    self.env._(
                        "Only administrators may change the password of %s.",
                        account.name,
                    )
                )

    @api.depends("user_id")
    @api.depends_context("uid")
    def _compute_can_edit(self):
        allowed = self._filtered_access("write")
        managed = (
            self.env["crm.mail.account.access"]
            .sudo()
            .search(
                [
                    ("account_id", "in", self.ids),
                    ("member_ids", "in", self.env.uid),
                    "|",
                    ("in_manage", "=", True),
                    ("out_manage", "=", True),
                ]
            )
            .account_id
        )
        for account in self:
            account.can_edit = account in allowed
            account.can_manage_rights = account.can_edit or account in managed

    def _compute_password_set(self):
        for account, secret in zip(self, self.sudo(), strict=True):
            account.password_set = bool(secret.password)
            account.smtp_password_set = bool(secret.smtp_password)

    @api.depends("email", "incoming_host")
    def _compute_provider_note(self):
        notes = {
            "app_password": self.env._(
                "This provider needs an app password: create one in the "
                "mailbox's security settings and use it here."
            ),
            "oauth": self.env._(
                "Microsoft 365 and Outlook.com accept OAuth only for new "
                "mailboxes: password logins may be refused."
            ),
        }
        for account in self:
            preset = preset_for(account.email)
            account.provider_note = notes.get(preset.note) if preset else False

    def _compute_message_count(self):
        groups = self.env["crm.mail.message"]._read_group(
            [("account_id", "in", self.ids)], ["account_id"], ["__count"]
        )
        counts = {account.id: count for account, count in groups}
        for account in self:
            account.message_count = counts.get(account.id, 0)

    # ------------------------------------------------------------
    # CONSTRAINTS AND ONCHANGES
    # ------------------------------------------------------------

    @api.constrains("email")
    def _check_email(self):
        for account in self:
            if not normalize(account.email or ""):
                raise ValidationError(
                    self.env._("%s is not an e-mail address.", account.email)
                )

    @api.constrains("ca_certificate")
    def _check_ca_certificate(self):
        for account in self.filtered("ca_certificate"):
            if "-----BEGIN CERTIFICATE-----" not in account.ca_certificate:
                raise ValidationError(
                    self.env._(
                        "The CA certificate must be PEM text "
                        "(-----BEGIN CERTIFICATE-----)."
                    )
                )

    @api.onchange("email")
    def _onchange_email(self):
        """Fill server settings from the provider of the typed address."""
        preset = preset_for(self.email)
        if self.email and not self.login:
            self.login = normalize(self.email)
        if self.email and not self.name:
            self.name = normalize(self.email)
        if not preset:
            return
        if self.protocol == "pop3" and preset.pop3_host:
            self.incoming_host, self.incoming_port = preset.pop3_host, preset.pop3_port
        else:
            self.protocol = "imap"
            self.incoming_host, self.incoming_port = preset.imap_host, preset.imap_port
        self.incoming_security = "ssl"
        self.smtp_host, self.smtp_port = preset.smtp_host, preset.smtp_port
        self.smtp_security = preset.smtp_security

    @api.onchange("protocol", "incoming_security")
    def _onchange_incoming_port(self):
        ports = {
            ("imap", "ssl"): 993,
            ("imap", "starttls"): 143,
            ("pop3", "ssl"): 995,
            ("pop3", "starttls"): 110,
        }
        self.incoming_port = ports.get((self.protocol, self.incoming_security), 993)
        preset = preset_for(self.email)
        if preset and self.protocol == "pop3" and preset.pop3_host:
            self.incoming_host = preset.pop3_host
        elif preset and self.protocol == "imap":
            self.incoming_host = preset.imap_host

    @api.onchange("smtp_security")
    def _onchange_smtp_port(self):
        self.smtp_port = 465 if self.smtp_security == "ssl" else 587

    # ------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        is_manager = self.env.su or self.env.user.has_group(SECRET_GROUP)
        for vals in vals_list:
            if vals.get("email"):
                vals["email"] = normalize(vals["email"]) or vals["email"]
            if not is_manager:
                # self-service: a user adds his own personal mailbox only
                vals["user_id"] = self.env.uid
        accounts = super().create(vals_list)
        self._toggle_cron()
        return accounts

    def write(self, vals):
        if vals.get("email"):
            vals["email"] = normalize(vals["email"]) or vals["email"]
        if (
            "user_id" in vals
            and not self.env.su
            and not self.env.user.has_group(SECRET_GROUP)
            and vals["user_id"] != self.env.uid
        ):
            raise AccessError(
                self.env._("Only administrators may give a mailbox to another user.")
            )
        if not self.env.su and not self.env.user.has_group(SECRET_GROUP):
            refused = self - self._filtered_access("write")
            if refused:
                raise AccessError(
                    self.env._(
                        "Only the owner of %s or a mail administrator may change "
                        "its settings.",
                        ", ".join(refused.mapped("name")),
                    )
                )
            self._clear_secrets_on_move(vals)
        res = super().write(vals)
        if "active" in vals or "use_for_receiving" in vals:
            self._toggle_cron()
        return res

    def _clear_secrets_on_move(self, vals):
        """Secrets never follow a server or login changed by a non-administrator.

        The owner of a mailbox set up by an administrator could otherwise
        point it at his own server (verification off) and press Test
        Connection to receive the administrator's password. A secret typed
        in the same write is set afterwards and kept.
        """
        moved = self._moved_by(vals, CONNECTION_FIELDS)
        if moved:
            moved.sudo().write(dict.fromkeys(SECRET_FIELDS, False))

    def _moved_by(self, vals, names):
        """These accounts whose value of one of ``names`` ``vals`` changes."""

        def changes(account, name):
            if name not in vals:
                return False
            old = account[name]
            old = old.id if isinstance(old, models.BaseModel) else old
            return (old or False) != (vals[name] or False)

        return self.filtered(lambda a: any(changes(a, name) for name in names))

    def unlink(self):
        res = super().unlink()
        self._toggle_cron()
        return res

    @api.model
    def _toggle_cron(self):
        """Keep the fetch crons active only while an active account exists."""
        crons = self._fetch_crons()
        for cron in crons:
            cron.toggle(
                model=self._name,
                domain=[("active", "=", True), ("use_for_receiving", "=", True)],
            )

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_manage_rights(self):
        """The rights lines of this account, for a user who manages them
        without owning the account (its form is read-only to him)."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_account_access_action"
        )
        action["domain"] = [("account_id", "=", self.id)]
        action["context"] = {"default_account_id": self.id}
        action["name"] = self.env._("Rights of %s", self.name)
        return action

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_message_action"
        )
        action["domain"] = [("account_id", "=", self.id)]
        action["context"] = {"default_account_id": self.id}
        return action
