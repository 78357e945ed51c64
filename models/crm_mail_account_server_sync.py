import logging
from datetime import timedelta

import psycopg2

from odoo import api, fields, models
from odoo.tools import SQL

from ..mail_engine.exceptions import MailEngineError, ProtocolError
from ..mail_engine.imap_session import UIDS_PER_COMMAND, ImapSession
from .crm_mail_message import SERVER_STATES
from .crm_mail_message_ingest import REFUSED_KEY

_logger = logging.getLogger(__name__)

#: without QRESYNC, a folder's messages are compared in full (deleted or
#: moved away, read elsewhere) once every this many runs
FULL_SYNC_EVERY = 5
#: what the push cron does at once (a delete waits for the fetch)
PUSHED_NOW = ("seen", "unseen", "answered", "move")
#: the IMAP special-use flag of the spam folder
JUNK = "\\Junk"


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
            unseen = [r.imap_uid for r in rows if r.action == "unseen"]
            answered = [r.imap_uid for r in rows if r.action == "answered"]
            delete = [r.imap_uid for r in rows if r.action == "delete"]
            if folder.uidvalidity == uidvalidity:
                delete += expired
            session.mark_seen(folder.name, seen)
            session.set_flag(folder.name, unseen, "\\Seen", add=False)
            session.set_flag(folder.name, answered, "\\Answered")
            # what the server shows now, before moved mails change place
            self._note_server_seen(folder, uidvalidity, seen, True)
            self._note_server_seen(folder, uidvalidity, unseen, False)
            moves = rows.filtered(
                lambda r, d=set(delete): r.action == "move" and r.imap_uid not in d
            )
            rows -= self._apply_moves(session, folder, uidvalidity, moves)
            session.delete(folder.name, delete)
            # the server confirmed: now the queue forgets them
            rows.unlink()
            if self.sync_flags and (seen or unseen):
                # a mark changed while the server was being told is pushed
                # again (compared with what the server shows now)
                Message = self.env["crm.mail.message"].sudo()
                Message._queue_flag_push(
                    Message.search(
                        [
                            ("folder_id", "=", folder.id),
                            ("imap_uidvalidity", "=", uidvalidity),
                            ("imap_uid", "in", seen + unseen),
                        ]
                    ).ids
                )
            self.env["crm.mail.message"].sudo().search(
                [
                    ("folder_id", "=", folder.id),
                    ("imap_uidvalidity", "=", uidvalidity),
                    ("imap_uid", "in", delete),
                    ("server_deleted", "=", False),
                ]
            ).write({"server_deleted": True})
            self._commit_server_sync()

    def _apply_moves(self, session, folder, uidvalidity, moves):
        """Move these queued messages, a command's worth at a time.

        :return: the rows left queued: a move the server refused for a
            while (over quota, in use) is tried again by the next run; one
            into a folder the server no longer has (TRYCREATE) is dropped,
            the mail staying where it is
        """
        left = moves.browse()
        for target in moves.target_folder_id:
            rows = moves.filtered(lambda r, t=target: r.target_folder_id == t)
            uids = sorted(rows.mapped("imap_uid"))
            for start in range(0, len(uids), UIDS_PER_COMMAND):
                chunk = uids[start : start + UIDS_PER_COMMAND]
                try:
                    validity, mapping = session.move(folder.name, chunk, target.name)
                except ProtocolError as error:
                    _logger.warning(
                        "Account %s: %s could not move to %s: %s",
                        self.id,
                        folder.name,
                        target.name,
                        error,
                    )
                    if "TRYCREATE" not in str(error).upper():
                        left |= rows.filtered(
                            lambda r, done=set(uids[:start]): r.imap_uid not in done
                        )
                    break
                self._moved(folder, uidvalidity, target, validity, mapping, chunk)
        return left

    def _moved(self, folder, uidvalidity, target, new_validity, mapping, uids):
        """The server moved these messages into ``target``: their mails
        follow, to the new UIDs it told (UIDPLUS); a mail whose new UID is
        unknown keeps the folder without a UID, and the next fetch of that
        folder, finding it again by its Message-ID, gives it its place."""
        mails = (
            self.env["crm.mail.message"]
            .sudo()
            .search(
                [
                    ("folder_id", "=", folder.id),
                    ("imap_uidvalidity", "=", uidvalidity),
                    ("imap_uid", "in", uids),
                ]
            )
        )
        for mail in mails:
            new_uid = mapping.get(mail.imap_uid)
            vals = {
                "folder_id": target.id,
                "imap_uidvalidity": new_validity if new_uid else False,
                "imap_uid": new_uid or False,
                "server_removed": False,
            }
            try:
                with self.env.cr.savepoint():
                    mail.write(vals)
            except psycopg2.IntegrityError:
                # the place is held by a copy fetched from there before
                mail.write({**vals, "imap_uidvalidity": False, "imap_uid": False})

    def _junk_folder(self):
        """The server's spam folder (special use ``\\Junk``), maybe empty."""
        self.ensure_one()
        return self.sudo().folder_ids.filtered(
            lambda f: f.special_use == JUNK and f.present
        )[:1]

    def _inbox_folder(self):
        """The account's Inbox folder, maybe empty (not listed yet)."""
        self.ensure_one()
        return self.sudo().folder_ids.filtered(lambda f: f.name.upper() == "INBOX")[:1]

    def _note_server_seen(self, folder, uidvalidity, uids, seen):
        """Remember what the server shows now for these messages."""
        if not uids:
            return
        self.env["crm.mail.message"].flush_model()
        self.env.cr.execute(
            SQL(
                "UPDATE crm_mail_message SET server_seen = %s WHERE folder_id = %s "
                "AND imap_uidvalidity = %s AND imap_uid = ANY(%s)",
                seen,
                folder.id,
                uidvalidity,
                list(uids),
            )
        )
        self.env["crm.mail.message"].invalidate_model(["server_seen"])

    def write(self, vals):
        res = super().write(vals)
        if vals.get("sync_flags"):
            # switched on: the next run notes what the server shows first
            # (a baseline), without changing anybody's read marks
            self.sudo().folder_ids.write({"highest_modseq": 0, "sync_countdown": 0})
        return res

    # ------------------------------------------------------------
    # READ MARKS FROM THE SERVER
    # ------------------------------------------------------------

    def _pull_server_state(self, session, folder):
        """What another mail program did in this folder since the last run:
        mail read or unread there is read or unread for the owner here (a
        personal mailbox), mail deleted or moved away is marked *Gone from
        the server* (never deleted here).

        With QRESYNC one command tells both (RFC 7162: changes since the
        folder's last HIGHESTMODSEQ); with CONDSTORE alone it tells the
        flags; otherwise, and for deletions without QRESYNC, every
        :data:`FULL_SYNC_EVERY` runs the folder's UIDs and its read ones
        are compared with what is stored. Only a difference from what the
        server showed last (``server_seen``) changes a read mark: a mark
        made here and not yet pushed is never undone.

        :param session: the open :class:`ImapSession`, sync enabled
        :param folder: a fetched ``crm.mail.folder`` of this account
        """
        if not self.sync_flags or not folder.last_uid:
            return
        try:
            self._pull_folder_state(session, folder)
        except MailEngineError as exc:
            # the read marks wait for the next run; the mail goes on
            _logger.warning(
                "Account %s, %s: read marks not synced: %s", self.id, folder.name, exc
            )

    def _pull_folder_state(self, session, folder):
        last = folder.last_uid
        uidvalidity, _uidnext = session.select(folder.name)
        if uidvalidity != folder.uidvalidity:
            return
        modseq, known = session.highest_modseq, folder.highest_modseq
        # never compared yet (sync just switched on): what the server shows
        # is noted, nobody's read marks change
        baseline = not known and folder.sync_countdown == 0
        # a server may keep no mod-sequences for a folder (no HIGHESTMODSEQ)
        mode = session.sync_mode if modseq else None
        due = folder.sync_countdown <= 0
        incremental = (
            bool(mode and known)
            and modseq >= known  # a restored server counts from scratch
            and (mode == "qresync" or not due)
        )
        if (incremental and modseq == known) or (not mode and not due):
            folder.sync_countdown -= 1
            return
        full = not incremental
        if full:
            present = set(session.search(folder.name, f"UID 1:{last}"))
            if not present and session.message_count():
                # an answer without its list: never take it for "all gone"
                _logger.warning("Account %s: %s listed nothing.", self.id, folder.name)
                return
            seen = set(session.search(folder.name, f"UID 1:{last} SEEN"))
            flags = {uid: uid in seen for uid in present}
            vanished = None
        else:
            changed, vanished = session.changes_since(folder.name, known, last)
            flags = {uid: "\\Seen" in marks for uid, marks in changed.items()}
            present = None
        domain = [
            ("folder_id", "=", folder.id),
            ("imap_uidvalidity", "=", uidvalidity),
            ("imap_uid", ">", 0),
            ("imap_uid", "<=", last),
            ("server_deleted", "=", False),
        ]
        if not full:
            domain.append(("imap_uid", "in", list(set(flags) | (vanished or set()))))
        mails = (
            self.env["crm.mail.message"]
            .sudo()
            .search_fetch(domain, ["imap_uid", "server_seen"])
        )
        if full:
            gone = mails.filtered(lambda m: m.imap_uid not in present)
        else:
            gone = mails.filtered(lambda m: m.imap_uid in (vanished or ()))
        gone.write({"server_removed": True, "server_deleted": True})
        changed = (mails - gone).filtered(
            lambda m: m.imap_uid in flags and flags[m.imap_uid] != m.server_seen
        )
        now_read = changed.filtered(lambda m: flags[m.imap_uid])
        now_unread = changed - now_read
        now_read.write({"server_seen": True})
        now_unread.write({"server_seen": False})
        if not baseline:
            self._owner_reads(now_read, now_unread)
        countdown = FULL_SYNC_EVERY if full else folder.sync_countdown - 1
        folder.write(
            {
                # mail above the checkpoint (a backlog) is fetched later:
                # its changes are asked for again then
                # (1 without mod-sequences: compared once, no more baseline)
                "highest_modseq": known if folder.backlog else (modseq or 1),
                "sync_countdown": countdown,
            }
        )
        if gone or changed:
            _logger.info(
                "Account %s, %s: %s read and %s unread on the server, %s gone.",
                self.id,
                folder.name,
                len(now_read),
                len(now_unread),
                len(gone),
            )

    def _owner_reads(self, now_read, now_unread):
        """The owner of a personal mailbox reads (or unreads) here what he
        did on the server; a shared mailbox's marks stay per person."""
        owner = self.user_id
        if not owner or not (now_read or now_unread):
            return
        Seen = self.env["crm.mail.message.seen"].sudo()
        if now_read:
            Seen.with_user(owner)._mark_read(now_read.ids)
        if now_unread:
            Seen.search(
                [("message_id", "in", now_unread.ids), ("user_id", "=", owner.id)]
            )._mark_unread()
        owner._bus_send("crm_mail_client/unread_changed", {})

    # ------------------------------------------------------------
    # READ MARKS TO THE SERVER
    # ------------------------------------------------------------

    @api.model
    def _cron_push_flags(self):
        """Set the read and answered marks queued by the CRM on the server
        (woken by each mark; an account being fetched right now is left to
        its fetch, which does the queue first, and tried again soon).

        WARNING: meant for cron usage only - commits per account.
        """
        Action = self.env["crm.mail.server.action"].sudo()
        pending = Action.search([("action", "in", PUSHED_NOW)])
        cron = self.env.ref("crm_mail_client.ir_cron_push_flags").sudo()
        # a failing account is left to its fetch's growing pauses: a wrong
        # password is not tried at every read mark
        accounts = pending.account_id.filtered(
            lambda a: a.active and a.protocol == "imap" and a.state != "error"
        )
        for account in accounts:
            with account._fetch_lock() as got:
                if not got:
                    cron._trigger(fields.Datetime.now() + timedelta(minutes=1))
                    continue
                try:
                    account._push_flags()
                except MailEngineError as exc:
                    # left queued: the next fetch of the account does them
                    _logger.info("Account %s: flags not pushed: %s", account.id, exc)
                except psycopg2.Error as exc:
                    if not account._auto_commit():
                        raise
                    self.env.cr.rollback()
                    _logger.info("Account %s: flags not pushed: %s", account.id, exc)
                    cron._trigger(fields.Datetime.now() + timedelta(minutes=1))

    def _push_flags(self):
        if self._auto_commit():
            # a new snapshot, after the lock: the last fetch's commit (and
            # the queue rows it did) are seen
            self.env.cr.commit()  # pylint: disable=invalid-commit
        self.invalidate_recordset()
        rows = (
            self.env["crm.mail.server.action"]
            .sudo()
            .search(
                [
                    ("account_id", "=", self.id),
                    ("action", "in", PUSHED_NOW),
                ]
            )
        )
        if not rows:
            return
        if self.auth_method != "password":
            self._oauth_access_token(commit=self._auto_commit())
        with ImapSession.open(self._incoming_config()) as session:
            self._apply_imap_actions(session, rows.folder_id)

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
