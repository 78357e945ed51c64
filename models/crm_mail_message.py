from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL, format_datetime

from .imap_uid_field import ImapUid
from .mail_body_field import MailBody
from .sql_indexes import create_partial_unique_indexes


class ReadBy(SQL):
    """The mails ``user_id`` has read, as the right side of an ``id``
    condition (rendered by ``_condition_to_sql``, see ``is_unread``)."""

    def __init__(self, user_id):
        super().__init__(
            "(SELECT message_id FROM crm_mail_message_seen"
            " WHERE user_id = %s AND is_read)",
            user_id,
        )
        self.user_id = user_id


STATES = [
    ("draft", "Draft"),
    ("outgoing", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("error", "Error"),
    ("received", "Received"),
    ("quarantined", "Quarantined"),
    ("spam", "Spam"),
]


# what a user's write right may change on any mail: links and review flags
USER_FLAG_FIELDS = frozenset(
    {
        "review_state",
        "postponed_until",
        "control_since",
        "user_id",
        "contact_id",
        "partner_id",
        "lead_id",
    }
)
# what the author of an outgoing mail writes (a draft, queued or failed
# mail, while he may send from its account)
USER_CONTENT_FIELDS = frozenset(
    {"subject", "body_html", "email_to", "email_cc", "email_bcc", "attachment_ids"}
)
# what a user gives a new mail; the rest (Message-ID, sender address,
# threading headers, server position) is set by the server side only
USER_CREATE_FIELDS = (
    USER_FLAG_FIELDS
    | USER_CONTENT_FIELDS
    | {
        "account_id",
        "direction",
        "state",
        "author_user_id",
        "parent_id",
    }
)
# the states a user (not an administrator) may give a mail: draft or queued
USER_SET_STATES = ("draft", "outgoing")
# the states in which the mail a user wrote may still be changed
USER_EDIT_STATES = ("draft", "outgoing", "error")
# what links a mail to CRM records (a user files mail only where he reads)
LINK_FIELDS = ("lead_id", "partner_id", "contact_id")
# states of mail that came from the server (its position there is real)
SERVER_STATES = ("received", "quarantined", "spam")


class CrmMailMessage(models.Model):
    """A mail of an account: fetched, quarantined, or written in Odoo."""

    _name = "crm.mail.message"
    _description = "CRM Mail"
    _order = "date desc, id desc"
    _rec_name = "subject"

    account_id = fields.Many2one(
        "crm.mail.account", required=True, index=True, ondelete="restrict"
    )
    company_id = fields.Many2one(
        related="account_id.company_id", store=True, index=True, readonly=True
    )
    # indexed together with the state (see init), never alone: an index of
    # a column with two values made PostgreSQL AND it with the others'
    direction = fields.Selection(
        [("incoming", "Incoming"), ("outgoing", "Outgoing")],
        required=True,
        default="incoming",
    )
    state = fields.Selection(STATES, required=True, default="received")
    message_id = fields.Char(string="Message-ID", index="btree_not_null", readonly=True)
    dedupe_key = fields.Char(
        readonly=True,
        copy=False,
        help="Message-ID, or a hash of the raw mail when it has none: one per account.",
    )
    in_reply_to = fields.Char(
        string="In-Reply-To", readonly=True, index="btree_not_null"
    )
    references = fields.Text(readonly=True)
    date = fields.Datetime(index=True, default=fields.Datetime.now)
    email_from = fields.Char(string="From", index=True)
    from_name = fields.Char(string="Sender Name")
    # the mails of an address among the recipients (relink, "To" search):
    # substrings, so trigram indexes; the sender's has one besides its
    # btree (see crm_mail_message_search.init)
    email_to = fields.Text(string="To", index="trigram")
    email_cc = fields.Text(string="Cc", index="trigram")
    email_bcc = fields.Text(string="Bcc")
    reply_to = fields.Char(string="Reply-To", index="trigram")
    # substring search (ilike) of subjects: a trigram index, as Odoo offers
    subject = fields.Char(index="trigram")
    body_html = MailBody(
        string="Body", sanitize=True, sanitize_style=True, sanitize_form=True
    )
    body_text = fields.Text(string="Plain Text")
    attachment_ids = fields.One2many(
        "ir.attachment",
        "res_id",
        domain=[("res_model", "=", "crm.mail.message")],
        string="Attachments",
    )
    attachment_count = fields.Integer(compute="_compute_attachment_count")
    has_attachments = fields.Boolean(index=True, readonly=True)
    # indexed by crm_mail_message_folder_rule_idx (see init)
    folder_id = fields.Many2one("crm.mail.folder", ondelete="set null")
    imap_uid = ImapUid(string="IMAP UID", readonly=True)
    imap_uidvalidity = ImapUid(string="IMAP UIDVALIDITY", readonly=True)
    pop3_uidl = fields.Char(string="POP3 UIDL", readonly=True)
    parent_id = fields.Many2one(
        "crm.mail.message", string="Reply To Mail", index=True, ondelete="set null"
    )
    thread_root_id = fields.Many2one(
        "crm.mail.message", string="Thread", index=True, ondelete="set null"
    )
    contact_id = fields.Many2one("res.partner", index=True)
    partner_id = fields.Many2one("res.partner", string="Customer", index=True)
    lead_id = fields.Many2one("crm.lead", index=True)
    user_id = fields.Many2one("res.users", string="Responsible", index=True)
    author_user_id = fields.Many2one(
        "res.users",
        string="Written By",
        index="btree_not_null",
        readonly=True,
        help="The user who wrote this outgoing mail in Odoo: he keeps seeing it.",
    )
    answered_by_id = fields.Many2one(
        "res.users",
        readonly=True,
        copy=False,
        help="Who sent the last answer to this mail: seen by everyone who reads "
        "the mail, also without the right to read the answer.",
    )
    answered_date = fields.Datetime(string="Answered On", readonly=True, copy=False)
    review_state = fields.Selection(
        [
            ("new", "New"),
            ("reviewed", "Reviewed"),
            ("postponed", "Postponed"),
            ("control", "On Control"),
        ],
        default="new",
        required=True,
        index=True,
    )
    auto_kind = fields.Selection(
        [
            ("auto_reply", "Auto-reply"),
            ("bounce", "Bounce"),
            ("bulk", "Mailing"),
            ("noreply", "No-reply"),
        ],
        string="Automatic Mail",
    )
    error = fields.Text(readonly=True, help="Why the mail is quarantined or failed.")
    size = fields.Integer(readonly=True)
    seen_ids = fields.One2many("crm.mail.message.seen", "message_id")
    thread_count = fields.Integer(
        compute="_compute_thread_count", string="Conversation"
    )
    is_unread = fields.Boolean(
        compute="_compute_is_unread", search="_search_is_unread", string="Unread"
    )

    def init(self):
        # Exactly once: the database refuses a second copy of one server
        # message, whatever process or crash tries to store it.
        indexes = {
            "crm_mail_message_imap_uid_uniq": (
                "account_id, folder_id, imap_uidvalidity, imap_uid",
                "imap_uid IS NOT NULL AND imap_uid > 0",
            ),
            "crm_mail_message_pop3_uidl_uniq": (
                "account_id, pop3_uidl",
                "pop3_uidl IS NOT NULL",
            ),
            "crm_mail_message_dedupe_uniq": (
                "account_id, dedupe_key",
                "dedupe_key IS NOT NULL",
            ),
        }
        create_partial_unique_indexes(self, indexes)
        # the lists (Inbox, Sent, Outbox...), their search panel counters and
        # exact counts: one index holding every column they and the record
        # rules read, so that counting is an index-only scan. It replaces
        # the single-column indexes of state and direction (18.0.2.0.0),
        # whose bitmaps of most of the table PostgreSQL used to combine
        # with a selective one (a subject search took 350 ms, not 35). The
        # responsible (user_id) is in it since the rule "its responsible"
        # (#23) reads it: 18.0.2.4.0 replaced crm_mail_message_list_idx.
        # The server folder's counters (the search panel) the same way: its
        # index leads with the folder and holds what the rules read; it
        # replaces the folder's single-column index.
        self.env.cr.execute(
            SQL(
                """DROP INDEX IF EXISTS crm_mail_message__state_index;
                   DROP INDEX IF EXISTS crm_mail_message__direction_index;
                   CREATE INDEX IF NOT EXISTS crm_mail_message_list_rule_idx
                       ON %s (state, direction, review_state, account_id)
                       INCLUDE (company_id, author_user_id, user_id);
                   DROP INDEX IF EXISTS crm_mail_message_list_idx;
                   CREATE INDEX IF NOT EXISTS crm_mail_message_folder_rule_idx
                       ON %s (folder_id, state, direction)
                       INCLUDE (account_id, company_id, author_user_id, user_id);
                   DROP INDEX IF EXISTS crm_mail_message__folder_id_index""",
                SQL.identifier(self._table),
                SQL.identifier(self._table),
            )
        )

    # ------------------------------------------------------------
    # ORM: what the rights lines cannot express
    # ------------------------------------------------------------

    def _is_mail_manager(self):
        return self.env.su or self.env.user.has_group(
            "crm_mail_client.group_mail_manager"
        )

    def _field_labels(self, names):
        return ", ".join(
            self._fields[name].get_description(self.env)["string"]
            for name in sorted(names)
            if name in self._fields
        )

    @api.model_create_multi
    def create(self, vals_list):
        # record rules let a user create outgoing mail of the accounts he
        # sends from; he writes it himself, as a draft or queued for sending
        records = self
        if not self._is_mail_manager():
            # a context default is a value too: those a user may give are
            # checked with his values, the others are dropped
            defaults = {
                key[len("default_") :]: value
                for key, value in self.env.context.items()
                if key.startswith("default_")
            }
            records = self.with_context(
                **{
                    f"default_{name}": False
                    for name in defaults
                    if name not in USER_CREATE_FIELDS
                }
            )
            for vals in vals_list:
                for name, value in defaults.items():
                    if name in USER_CREATE_FIELDS:
                        vals.setdefault(name, value)
                records._check_user_create(vals)
        for vals in vals_list:
            if vals.get("direction") == "outgoing" and not vals.get("message_id"):
                for name, value in records._outgoing_server_vals(vals).items():
                    vals.setdefault(name, value)
        return super(CrmMailMessage, records).create(vals_list)

    def _check_user_create(self, vals):
        """What a user may not give a new mail: see ``USER_CREATE_FIELDS``."""
        vals.setdefault("author_user_id", self.env.uid)
        server_fields = set(vals) - USER_CREATE_FIELDS
        if server_fields:
            raise AccessError(
                self.env._(
                    "These fields are set by the mail server, not by hand: %(fields)s.",
                    fields=self._field_labels(server_fields),
                )
            )
        if (
            vals.get("direction") != "outgoing"
            or vals.get("state") not in USER_SET_STATES
            or vals["author_user_id"] != self.env.uid
        ):
            raise AccessError(
                self.env._(
                    "You may only create mail written by you, as a draft or "
                    "queued for sending: received and sent mail comes "
                    "from the mail server."
                )
            )
        if vals.get("parent_id"):
            # a reply quotes and threads with its parent: he must read it
            self.browse(vals["parent_id"]).check_access("read")
        # the lead he files it into (the lead of the conversation answered
        # is his mail's by right; contacts follow the addresses written to)
        parent = self.sudo().browse(vals.get("parent_id") or [])
        inherited = (parent.lead_id or parent.thread_root_id.lead_id).id
        if vals.get("lead_id") and vals["lead_id"] != inherited:
            self._check_link_targets({"lead_id": vals["lead_id"]})
        if vals["state"] == "outgoing" and vals.get("account_id"):
            self.env["crm.mail.account"].browse(vals["account_id"])._check_may_send()

    @api.model
    def _outgoing_server_vals(self, vals):
        """What the server side sets on a new outgoing mail: a fresh
        Message-ID, the account's address and the threading headers of the
        mail it answers."""
        account = self.env["crm.mail.account"].sudo().browse(vals.get("account_id"))
        parent = self.sudo().browse(vals.get("parent_id") or [])
        message_id = self._new_message_id(account)
        return {
            "message_id": message_id,
            "dedupe_key": message_id,
            "email_from": account.email,
            "from_name": account.sender_name or account.name,
            **self._outgoing_thread_vals(parent),
            # a parent given explicitly stays (the thread vals repeat it)
            "parent_id": parent.id or False,
        }

    def write(self, vals):
        # record rules check the mail before the write, not the values: a
        # user may not move a mail to another account or direction
        if self._is_mail_manager():
            if "account_id" in vals:
                self._follow_account(vals)
            return super().write(vals)
        self._check_user_write(vals)
        if vals.get("state") == "outgoing":
            # the date of a mail is when it left the author's hands
            vals = dict(vals, date=fields.Datetime.now())
        return super().write(vals)

    def _follow_account(self, vals):
        """A draft moved to another account sends from that address."""
        unsent = self.filtered(
            lambda m: m.direction == "outgoing" and m.state in USER_EDIT_STATES
        )
        if unsent and len(self) == len(unsent):
            account = self.env["crm.mail.account"].sudo().browse(vals["account_id"])
            vals.update(
                email_from=account.email,
                from_name=account.sender_name or account.name,
            )

    def _check_attachment_change(self):
        """Adding, changing or removing a file of these mails: only on the
        unsent mail one wrote, while one may send from its account."""
        if self._is_mail_manager():
            return
        for mail in self.sudo():
            if (
                mail.direction != "outgoing"
                or mail.state not in USER_EDIT_STATES
                or mail.author_user_id.id != self.env.uid
            ):
                raise AccessError(
                    self.env._(
                        "The attachments of %(mail)s cannot be changed: a received "
                        "or sent mail keeps its files, and an unsent one is its "
                        "author's.",
                        mail=mail.subject or self.env._("(no subject)"),
                    )
                )
            mail.account_id.with_env(self.env)._check_send_right()

    def _may_assign(self):
        """The current user may choose who is responsible for these mails
        (a right to read them): their mailbox's owner, a user who manages
        its rights, an administrator."""
        if self._is_mail_manager():
            return True
        uid = self.env.uid
        for account in self.sudo().account_id:
            lines = account.access_ids.filtered(
                lambda line: (
                    (line.in_manage or line.out_manage) and uid in line.member_ids.ids
                )
            )
            if account.user_id.id != uid and not lines:
                return False
        return True

    def _check_link_targets(self, vals):
        """A user links a mail only to what he may read: a lead, contact or
        company of another salesperson is not his to file mail into (the
        lead would get a note of it, written as the superuser)."""
        for name in LINK_FIELDS:
            if not vals.get(name):
                continue
            target = self.env[self._fields[name].comodel_name].browse(vals[name])
            if not target.has_access("read"):
                raise AccessError(
                    self.env._(
                        "You may not open %s: ask its owner to link it.",
                        target.sudo().display_name,
                    )
                )

    def _check_user_write(self, vals):
        """A user relinks and flags any mail he may write; only the author
        changes the content or state of his unsent mail, and only while he
        may send from its account. Nobody but the server touches the rest."""
        # a link kept as it is (a draft saved again) is no new filing
        self._check_link_targets(
            {
                name: vals[name]
                for name in LINK_FIELDS
                if vals.get(name)
                and any(mail.sudo()[name].id != vals[name] for mail in self)
            }
        )
        if (
            vals.get("user_id")
            and any(mail.user_id.id != vals["user_id"] for mail in self)
            and not self._may_assign()
        ):
            # the responsible reads the mail: choosing him gives a right
            raise AccessError(
                self.env._(
                    "Only the owner of the mailbox, a user who manages its "
                    "rights or a mail administrator chooses the responsible of "
                    "a mail: the responsible may read it."
                )
            )
        if {"account_id", "direction", "author_user_id"} & set(vals):
            raise AccessError(
                self.env._(
                    "Only mail administrators may move a mail to another "
                    "account or change its direction or author."
                )
            )
        server_fields = set(vals) - USER_FLAG_FIELDS - USER_CONTENT_FIELDS - {"state"}
        if server_fields:
            raise AccessError(
                self.env._(
                    "These fields are set by the mail server, not by hand: %(fields)s.",
                    fields=self._field_labels(server_fields),
                )
            )
        changed = set(vals) - USER_FLAG_FIELDS
        if not changed:
            return
        # a received, fetched or sent mail is a record of what was written:
        # the write right relinks and flags it, it never rewrites or queues it
        frozen = self.filtered(
            lambda m: m.direction != "outgoing" or m.state not in USER_EDIT_STATES
        )
        if frozen:
            raise AccessError(
                self.env._(
                    "A received or sent mail cannot be changed: only its "
                    "review state, responsible and links (%(fields)s).",
                    fields=self._field_labels(changed),
                )
            )
        # a queued or failed mail goes out under its author's name: a
        # colleague with the write right relinks it, he never rewrites it
        if self.filtered(lambda m: m.author_user_id.id != self.env.uid):
            raise AccessError(
                self.env._(
                    "Only the author of an unsent mail may change it (%(fields)s).",
                    fields=self._field_labels(changed),
                )
            )
        if "state" in vals and vals["state"] not in USER_SET_STATES:
            raise AccessError(
                self.env._("Only the mail server sets a mail sent, failed or received.")
            )
        for account in self.account_id:
            if vals.get("state") == "outgoing":
                # queueing is sending: the Send right and a working account
                account._check_may_send()
            elif changed - {"state"}:
                # writing is preparing to send: the Send right, now
                account._check_send_right()

    @api.depends("subject", "from_name", "email_from", "date")
    @api.depends_context("uid", "crm_mail_long_name")
    def _compute_display_name(self):
        # Odoo names many2one targets as superuser (web_read, read): the
        # parent of a mail may sit in a direction the reader may not read
        hidden = self.browse()
        if self.env.su and not self.env.user._is_superuser():
            as_user = self.with_env(self.env(su=False))
            if not as_user._is_mail_manager():
                hidden = self - self.browse(as_user._filtered_access("read").ids)
        for mail in self:
            if mail in hidden:
                mail.display_name = self.env._("Mail #%s (restricted)", mail.id)
            else:
                mail.display_name = mail.subject or self.env._("(no subject)")
                if self.env.context.get("crm_mail_long_name"):
                    # pickers: mails of one subject told apart by who and when
                    suffix = mail.from_name or mail.email_from or ""
                    if mail.date:
                        when = format_datetime(self.env, mail.date, dt_format="short")
                        suffix += f", {when}"
                    mail.display_name += f" — {suffix}"

    def _compute_thread_count(self):
        for message in self:
            message.thread_count = (
                self.search_count(message._thread_domain()) if message.id else 0
            )

    @api.depends("attachment_ids")
    def _compute_attachment_count(self):
        for message in self:
            message.attachment_count = len(message.attachment_ids)

    @api.depends_context("uid")
    def _compute_is_unread(self):
        seen = self.env["crm.mail.message.seen"].search(
            [
                ("message_id", "in", self.ids),
                ("user_id", "=", self.env.uid),
                ("is_read", "=", True),
            ]
        )
        seen_ids = set(seen.message_id.ids)
        for message in self:
            message.is_unread = message.id not in seen_ids

    def _search_is_unread(self, operator, value):
        if operator not in ("=", "!="):
            return [("id", "=", 0)]
        unread = (operator == "=") == bool(value)
        return [("id", "not in" if unread else "in", ReadBy(self.env.uid))]

    @api.model
    def _condition_to_sql(self, alias, fname, operator, value, query):
        if fname == "id" and isinstance(value, ReadBy):
            # (NOT) EXISTS, one index probe per mail: "id NOT IN (the
            # user's read marks)" hashes them only while they fit in
            # work_mem, and beyond (half a million marks) scans them all for
            # every mail
            return SQL(
                """%s EXISTS (SELECT 1 FROM crm_mail_message_seen AS read_mark
                               WHERE read_mark.message_id = %s
                                 AND read_mark.user_id = %s
                                 AND read_mark.is_read)""",
                SQL("NOT") if operator == "not in" else SQL(),
                SQL.identifier(alias, "id"),
                value.user_id,
            )
        return super()._condition_to_sql(alias, fname, operator, value, query)

    def _my_seen(self):
        return self.env["crm.mail.message.seen"].search(
            [("message_id", "in", self.ids), ("user_id", "=", self.env.uid)]
        )

    def action_mark_read(self):
        """Mark these mails read for the current user (no write right needed)."""
        self.check_access("read")
        self.env["crm.mail.message.seen"]._mark_read(self.ids)

    def _thread_domain(self):
        root = self.thread_root_id or self
        return ["|", ("id", "=", root.id), ("thread_root_id", "=", root.id)]

    def action_view_thread(self):
        """The whole conversation of this mail, oldest first."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_message_action"
        )
        action.update(
            name=self.env._("Conversation"),
            domain=self._thread_domain(),
            views=[
                (
                    self.env.ref(
                        "crm_mail_client.crm_mail_message_view_list_thread"
                    ).id,
                    "list",
                ),
                (False, "form"),
            ],
        )
        return action

    def action_mark_unread(self):
        self.check_access("read")
        self._my_seen()._mark_unread()
