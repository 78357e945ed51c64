from odoo import api, fields, models
from odoo.tools import SQL

from .imap_uid_field import ImapUid
from .sql_indexes import create_partial_unique_indexes


class CrmMailServerAction(models.Model):
    """What a fetch still has to do on the server: mark a message read,
    unread or answered, or delete it.

    Rows are written in the same transaction as the mails they concern (so
    a crash never forgets them) and removed only once the server confirmed
    the command: every run first does what earlier runs left undone. A
    message is designated by its place, (folder, UIDVALIDITY, UID) for IMAP
    or its UIDL for POP3; a place the server no longer has is dropped.
    """

    _name = "crm.mail.server.action"
    _description = "Pending Mail Server Action"
    _log_access = False
    _order = "id"

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    action = fields.Selection(
        [
            ("seen", "Mark Read"),
            ("unseen", "Mark Unread"),
            ("answered", "Mark Answered"),
            ("delete", "Delete"),
            ("move", "Move"),
        ],
        required=True,
    )
    folder_id = fields.Many2one("crm.mail.folder", ondelete="cascade")
    target_folder_id = fields.Many2one(
        "crm.mail.folder", ondelete="cascade", help="Where a move takes the message."
    )
    imap_uidvalidity = ImapUid(string="IMAP UIDVALIDITY")
    imap_uid = ImapUid(string="IMAP UID")
    pop3_uidl = fields.Char(string="POP3 UIDL")
    date = fields.Datetime(default=fields.Datetime.now, required=True)

    def init(self):
        # one pending row per place and action, whatever retries queue
        create_partial_unique_indexes(
            self,
            {
                "crm_mail_server_action_imap_uniq": (
                    "account_id, action, folder_id, imap_uidvalidity, imap_uid",
                    "imap_uid IS NOT NULL",
                ),
                "crm_mail_server_action_pop3_uniq": (
                    "account_id, action, pop3_uidl",
                    "pop3_uidl IS NOT NULL",
                ),
            },
        )

    @api.model
    def _queue(self, rows):
        """Queue actions, in one statement; a place already queued stays once.

        :param list rows: dicts with ``account_id``, ``action`` and either
            ``folder_id``, ``imap_uidvalidity``, ``imap_uid`` or ``pop3_uidl``;
            a move also ``target_folder_id``
        """
        if not rows:
            return
        columns = ("account_id", "action", "folder_id", "imap_uidvalidity")
        columns += ("imap_uid", "pop3_uidl", "target_folder_id")
        values = [tuple(row.get(name) or None for name in columns) for row in rows]
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "INSERT INTO crm_mail_server_action (%s, date) VALUES %s "
                "ON CONFLICT DO NOTHING",
                SQL(", ").join(SQL.identifier(name) for name in columns),
                SQL(", ").join(
                    SQL("(%s, (now() at time zone 'UTC'))", SQL(", ").join(value))
                    for value in values
                ),
            )
        )
        self.invalidate_model()

    @api.model
    def _forget_moves(self, places):
        """Drop the moves still queued for these IMAP places.

        :param list places: dicts with ``folder_id``, ``imap_uidvalidity``
            and ``imap_uid``
        """
        if not places:
            return
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "DELETE FROM crm_mail_server_action WHERE action = 'move' AND "
                "(folder_id, imap_uidvalidity, imap_uid) IN %s",
                tuple(
                    (p["folder_id"], p["imap_uidvalidity"], p["imap_uid"])
                    for p in places
                ),
            )
        )
        self.invalidate_model()
