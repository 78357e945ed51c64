import hashlib
import logging
import time

from odoo import api, fields, models
from odoo.tools import SQL

from ..mail_engine import imap_session

_logger = logging.getLogger(__name__)

#: first key of the advisory locks a watcher holds per watched account
#: ("CRMW"): its lease (see ``watcher.py``)
WATCH_LOCK_CLASS = 0x43524D57
#: the account settings a watch's connection is made of: changing one
#: restarts the watch
WATCH_SETTINGS = (
    "incoming_host",
    "incoming_port",
    "incoming_security",
    "login",
    "email",
    "auth_method",
    "verify_certificate",
    "ca_certificate",
    "oauth_provider_id",
    "timeout",
)
#: how long a woken fetch waits for a fetch of the account already running
#: elsewhere (the cron, "Fetch now": at most ``ACCOUNT_BUDGET`` each) to end
#: before it gives up; the watch asks again after a pause (s)
WAKE_LOCK_WAIT = 45


class CrmMailAccount(models.Model):
    """Live arrival: which accounts the watcher (``odoo-bin crm_mail_watch``)
    keeps in IMAP IDLE, and the fetch it wakes."""

    _inherit = "crm.mail.account"

    live_arrival = fields.Boolean(
        default=True,
        help="Keep a connection waiting on the server (IMAP IDLE), so that "
        "new mail arrives within seconds instead of at the next fetch run. "
        "Needs the mail watcher running beside Odoo (see the README); "
        "servers without IDLE are fetched by the cron only.",
    )
    live_state = fields.Selection(
        [("watching", "Live"), ("cron", "By the fetch cron")],
        compute="_compute_live_state",
        string="Arrival",
        help="Live: a mail watcher holds a connection to this mailbox now, "
        "and new mail arrives within seconds. Otherwise mail comes with the "
        "fetch cron's runs.",
    )

    def _compute_live_state(self):
        watched = self._watched_ids(self.ids)
        for account in self:
            account.live_state = "watching" if account.id in watched else "cron"

    @api.model
    def _watched_ids(self, ids):
        """Ids among ``ids`` whose watch lease some process holds now."""
        ids = [i for i in ids if isinstance(i, int)]
        if not ids:
            return set()
        self.env.cr.execute(
            SQL(
                "SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND classid = %s AND objsubid = 2 AND objid = ANY(%s) "
                # the locks of the whole cluster: this database's only
                "AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())",
                WATCH_LOCK_CLASS,
                ids,
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    # ------------------------------------------------------------
    # WATCHER
    # ------------------------------------------------------------

    @api.model
    def _watch_candidates(self):
        """What should be watched now: ``{account id: (inbox, other
        folders, fingerprint, sync_flags)}``.

        Active IMAP accounts with *Live Arrival* whose Inbox is fetched and
        that the fetch cron would fetch now: an account failing again and
        again waits for the cron's growing pauses (it is not hammered by a
        watch too), and a new OAuth2 mailbox waits for its first sign-in.
        """
        accounts = self.sudo().search(
            [
                ("active", "=", True),
                ("use_for_receiving", "=", True),
                ("protocol", "=", "imap"),
                ("live_arrival", "=", True),
            ]
        )
        wanted = {}
        for account in accounts.filtered(lambda a: a._is_due()):
            folders = account._watch_folders()
            if folders:
                fingerprint = account._watch_fingerprint()
                wanted[account.id] = (*folders, fingerprint, account.sync_flags)
        return wanted

    def _watch_folders(self):
        """``(inbox, other fetched folders)`` to watch, or None when the
        Inbox is not fetched (before the first fetch lists the folders, the
        Inbox alone)."""
        self.ensure_one()
        if not self.folder_ids:
            return "INBOX", ()
        chosen = self.folder_ids.filtered(lambda f: f.to_fetch and f.present)
        if chosen:
            names = chosen.mapped("name")
        else:
            names = imap_session.default_fetch_folders(
                [
                    imap_session.FolderInfo(f.name, "/", (), f.special_use, True)
                    for f in self.folder_ids.filtered("present")
                ]
            )
        inbox = next((name for name in names if name.upper() == "INBOX"), None)
        if inbox is None:
            return None
        return inbox, tuple(name for name in names if name != inbox)

    def _watch_fingerprint(self):
        """A digest of the settings the watch connects with (the secret
        included, never shown): a change restarts the watch."""
        self.ensure_one()
        account = self.sudo()
        values = [str(account[name]) for name in WATCH_SETTINGS]
        values.append(account.password or "")
        return hashlib.sha256("\x00".join(values).encode()).hexdigest()

    def _watch_wake(self):
        """Fetch now, because the server reported new mail (called by the
        watcher in its own transaction; commits like the cron).

        A fetch of this account already running elsewhere may have listed
        the folder before the new mail came: wait for it to end and fetch
        again, rather than skip.

        :return: the :class:`FetchRun`, or None when the account was busy
            for :data:`WAKE_LOCK_WAIT` seconds (the cron takes it then)
        """
        self.ensure_one()
        account = self.sudo().with_context(lang=self._cron_lang())
        give_up = time.monotonic() + WAKE_LOCK_WAIT
        last = None
        while time.monotonic() < give_up:
            run = account._fetch_locked()
            if run is None:
                time.sleep(1)
                continue
            last = run
            # a backlog is not left for the cron's next run
            if not run.more or account.state == "error":
                return run
        if last is None:
            _logger.info("Account %s stayed busy; the watch asks again.", self.id)
        elif last.more:
            # what is left is the cron's, at once
            for cron in account._fetch_crons():
                cron._trigger()
        return last
