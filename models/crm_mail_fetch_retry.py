from odoo import fields, models

from .imap_uid_field import ImapUid

#: runs in which the server refused a message before it is kept as a stub
MAX_REFUSALS = 3


class CrmMailFetchRetry(models.Model):
    """A message the server would not give (IMAP ``NO`` or a dropped
    connection on FETCH, POP3 ``-ERR`` on RETR), or did not return.

    The fetch goes on with the next messages and the checkpoint moves past
    it, so one bad message never blocks a folder; this row keeps it from
    being lost: every run asks for it again first. Gone from the server, it
    is forgotten; refused in :data:`MAX_REFUSALS` runs, it is kept as a
    quarantined stub with the server's answer (visible in Quarantine).
    """

    _name = "crm.mail.fetch.retry"
    _description = "Mail The Server Refused"
    _order = "id"

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    folder_id = fields.Many2one("crm.mail.folder", ondelete="cascade")
    imap_uidvalidity = ImapUid(string="IMAP UIDVALIDITY")
    imap_uid = ImapUid(string="IMAP UID")
    pop3_uidl = fields.Char(string="POP3 UIDL")
    attempts = fields.Integer(default=1)
    error = fields.Text(help="The server's last answer.")

    _sql_constraints = [
        (
            "imap_uniq",
            "UNIQUE(account_id, folder_id, imap_uidvalidity, imap_uid)",
            "A refused IMAP message is retried once per place.",
        ),
        (
            "pop3_uniq",
            "UNIQUE(account_id, pop3_uidl)",
            "A refused POP3 message is retried once per UIDL.",
        ),
    ]

    def _source(self):
        """Where the message is, as ``crm.mail.message`` values."""
        self.ensure_one()
        if self.pop3_uidl:
            return {"pop3_uidl": self.pop3_uidl}
        return {
            "folder_id": self.folder_id.id,
            "imap_uidvalidity": self.imap_uidvalidity,
            "imap_uid": self.imap_uid,
        }
