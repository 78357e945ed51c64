import logging
from datetime import timedelta

from odoo import fields, models

from ..mail_engine.exceptions import ProtocolError
from .crm_mail_message import SERVER_STATES
from .crm_mail_message_ingest import REFUSED_KEY

_logger = logging.getLogger(__name__)


class CrmMailAccount(models.Model):
    """What a fetch does on the server once the database has committed:
    mark mail read, delete it (by the settings, a routing rule, "delete
    after N days", or a mail deleted in Odoo).

    Everything comes from the database (``crm.mail.server.action`` and the
    stored mails), never from memory: a process that dies between its
    commit and the server's answer leaves the work queued for the next run,
    and a row goes only once the server confirmed.
    """

    _inherit = "crm.mail.account"

    # ------------------------------------------------------------
    # IMAP
    # ------------------------------------------------------------

    def _apply_imap_actions(self, session, folders, expire=False):
        """Do the queued actions of these folders on the server.

        :param session: the open :class:`ImapSession`
        :param folders: ``crm.mail.folder`` records of this account
        :param bool expire: also delete the mail stored longer ago than
            *delete after N days*
        """
        Action = self.env["crm.mail.server.action"]
        pending = Action.search(
            [("account_id", "=", self.id), ("folder_id", "in", folders.ids)]
        )
        by_folder = {folder: pending.browse() for folder in folders}
        for row in pending:
            by_folder[row.folder_id] |= row
        for folder, rows in by_folder.items():
            expired = self._expired_imap(folder) if expire else []
            if not rows and not expired:
                continue
            try:
                uidvalidity, _uidnext = session.select(folder.name, readonly=False)
            except ProtocolError:
                # the folder is gone from the server, and its mail with it
                _logger.info("Folder %s of account %s is gone.", folder.name, self.id)
                rows.unlink()
                continue
            stale = rows.filtered(lambda r, v=uidvalidity: r.imap_uidvalidity != v)
            stale.unlink()  # renumbered: those places no longer exist
            rows -= stale
            seen = [r.imap_uid for r in rows if r.action == "seen"]
            delete = [r.imap_uid for r in rows if r.action == "delete"]
            if folder.uidvalidity == uidvalidity:
                delete += expired
            session.mark_seen(folder.name, seen)
            session.delete(folder.name, delete)
            # the server confirmed: now the queue forgets them
            rows.unlink()
            self.env["crm.mail.message"].sudo().search(
                [
                    ("folder_id", "=", folder.id),
                    ("imap_uidvalidity", "=", uidvalidity),
                    ("imap_uid", "in", delete),
                    ("server_deleted", "=", False),
                ]
            ).write({"server_deleted": True})
            self._commit_server_sync()

    def _expired_imap(self, folder):
        """UIDs of the folder's mail stored longer ago than *delete after*."""
        if not self.keep_on_server or not self.delete_after_days:
            return []
        limit = fields.Datetime.now() - timedelta(days=self.delete_after_days)
        mails = (
            self.env["crm.mail.message"]
            .sudo()
            .search_fetch(
                [
                    ("folder_id", "=", folder.id),
                    ("imap_uidvalidity", "=", folder.uidvalidity),
                    ("imap_uid", ">", 0),
                    ("state", "in", SERVER_STATES),
                    ("server_deleted", "=", False),
                    ("create_date", "<", limit),
                    # a refused mail's stub holds no bytes: the server's copy
                    # is the only one
                    ("dedupe_key", "not like", f"{REFUSED_KEY}%"),
                ],
                ["imap_uid"],
            )
        )
        return mails.mapped("imap_uid")

    # ------------------------------------------------------------
    # POP3
    # ------------------------------------------------------------

    def _apply_pop3_actions(self, session, on_server):
        """Delete the queued and expired messages, then QUIT (which is when
        a POP3 server deletes); the queue forgets them only after that.

        :param session: the open :class:`Pop3Session` (closed on return)
        :param dict on_server: ``{uidl: message number}`` of this session
        """
        Action = self.env["crm.mail.server.action"]
        rows = Action.search([("account_id", "=", self.id), ("pop3_uidl", "!=", False)])
        gone = rows.filtered(lambda r: r.pop3_uidl not in on_server)
        gone.unlink()
        rows -= gone
        uidls = set(rows.filtered(lambda r: r.action == "delete").mapped("pop3_uidl"))
        uidls |= set(self._expired_pop3_uidls(on_server))
        for uidl in sorted(uidls, key=on_server.get):
            session.delete(on_server[uidl])
        session.close()
        rows.unlink()
        self.env["crm.mail.message"].sudo().search(
            [
                ("account_id", "=", self.id),
                ("pop3_uidl", "in", list(uidls)),
                ("server_deleted", "=", False),
            ]
        ).write({"server_deleted": True})
        self._commit_server_sync()

    def _commit_server_sync(self):
        if self._auto_commit():
            # the server did it: the queue must say so even if a later
            # command of this run fails
            self.env.cr.commit()  # pylint: disable=invalid-commit
