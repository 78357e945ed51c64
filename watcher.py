"""The mail watcher: keeps accounts in IMAP IDLE and wakes their fetch.

Run by ``odoo-bin crm_mail_watch`` (see ``cli/crm_mail_watch.py``) beside
the Odoo server. One :class:`Watcher` per database:

- every :data:`LEASE_POLL` seconds it asks the database which accounts
  should be watched (``crm.mail.account._watch_candidates``), and leases
  each one it may take: a PostgreSQL *session* advisory lock
  (``WATCH_LOCK_CLASS``, account id) on a connection of its own. Several
  watchers (one per Odoo server) share the accounts; one account is watched
  by one process at a time. When a watcher dies, even by ``kill -9``, its
  connection closes, PostgreSQL frees its leases, and another watcher takes
  them at its next poll;
- each leased account gets a :class:`~.mail_engine.watch.FolderWatch`
  thread holding one IMAP connection in IDLE on its Inbox (and, where the
  server offers NOTIFY, told of its other fetched folders); when the server
  reports new mail, the thread runs the account's normal fetch
  (``_watch_wake``: its fetch lock, checkpoints, rules, linking, new-mail
  notices on the bus) in a transaction of its own. The watcher never stores
  mail itself;
- a watch whose settings changed is restarted, one no longer wanted (made
  inactive, in error, live arrival off) is ended and its lease freed; a
  server without IDLE is left to the fetch cron (asked again hourly).
"""

import logging
import os
import threading
import time

import psycopg2

from odoo import SUPERUSER_ID, api, sql_db
from odoo.modules.registry import Registry

from .mail_engine.imap_session import ImapSession
from .mail_engine.watch import FolderWatch
from .models.crm_mail_account_watch import WATCH_LOCK_CLASS

_logger = logging.getLogger(__name__)

#: ``application_name`` of the lease connections (with the process id)
APPLICATION = "crm_mail_watch"
#: seconds between two looks at what to watch (and at dead watchers' leases)
LEASE_POLL = 15
#: fetches woken at once (each uses two database connections)
MAX_FETCHES = 8
#: a server without IDLE is asked again after this long (s)
NO_IDLE_RETRY = 3600
#: seconds a stopping watch may take to end its IDLE and log out
STOP_WAIT = 10


class _Watch:
    def __init__(self, thread, stop, wanted):
        self.thread = thread
        self.stop = stop
        self.wanted = wanted  # (inbox, other folders, fingerprint, sync_flags)
        self.leased = True
        self.state = "starting"


class Watcher:
    """Watches the accounts of one database until :meth:`shutdown`.

    :param str dbname: the database
    :param float lease_poll: seconds between two looks at the accounts
    """

    def __init__(self, dbname, lease_poll=LEASE_POLL, max_fetches=MAX_FETCHES):
        self.dbname = dbname
        self.lease_poll = lease_poll
        self.stopping = threading.Event()
        self.watches = {}  # account id -> _Watch
        self.ending = {}  # account id -> _Watch asked to stop, lease still held
        self.no_idle = {}  # account id -> monotonic time to ask again
        self.fetch_slots = threading.BoundedSemaphore(max_fetches)
        self.lease_cnx = None
        self._signaling = threading.Lock()

    # ------------------------------------------------------------ main loop

    def serve(self):
        """Watch until :meth:`shutdown`; then end every watch, free leases."""
        _logger.info("Mail watcher started on database %s.", self.dbname)
        try:
            while not self.stopping.is_set():
                try:
                    self.cycle()
                except psycopg2.Error as exc:
                    # the database went away: the leases went with it
                    _logger.warning("Mail watcher lost the database: %s", exc)
                    self._drop_all()
                except Exception:  # noqa: BLE001 - the watcher keeps running
                    _logger.exception("Mail watcher cycle failed.")
                self.stopping.wait(self.lease_poll)
        finally:
            self._drop_all()
            _logger.info("Mail watcher stopped on database %s.", self.dbname)

    def shutdown(self):
        self.stopping.set()

    def cycle(self):
        """One look: end unwanted watches, lease and start the wanted ones."""
        cnx = self._lease_connection()
        registry = self._registry()
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            if "crm.mail.account" not in env:
                _logger.warning("crm_mail_client is not installed in %s.", self.dbname)
                return
            wanted = env["crm.mail.account"]._watch_candidates()
        now = time.monotonic()
        for account_id, watch in list(self.watches.items()):
            alive = watch.thread.is_alive()
            if not alive and watch.state == "no_idle":
                self.no_idle[account_id] = now + NO_IDLE_RETRY
            if (
                not alive
                or wanted.get(account_id) != watch.wanted
                or self.stopping.is_set()
            ):
                self._end(account_id)
        self._reap(cnx)
        for account_id, folders in sorted(wanted.items()):
            if account_id in self.watches or account_id in self.ending:
                continue
            if self.no_idle.get(account_id, 0) > now:
                continue
            if self._try_lease(cnx, account_id):
                self._start(account_id, folders)

    # ------------------------------------------------------------ leases

    def _lease_connection(self):
        """The connection holding the leases; checked at every look. When
        it died, its leases died with it: every watch ends at once, and the
        leases are taken again on a new connection."""
        if self.lease_cnx is not None:
            try:
                with self.lease_cnx.cursor() as cur:
                    cur.execute("SELECT 1")
                return self.lease_cnx
            except psycopg2.Error as exc:
                _logger.warning("Mail watcher's lease connection died: %s", exc)
                self._drop_all()
        _dbname, info = sql_db.connection_info_for(self.dbname)
        # the PID in the name: which process holds which lease (pg_locks)
        info = dict(info, application_name=f"{APPLICATION}/{os.getpid()}")
        cnx = psycopg2.connect(**info)
        cnx.autocommit = True
        self.lease_cnx = cnx
        return cnx

    def _try_lease(self, cnx, account_id):
        with cnx.cursor() as cur:
            cur.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (WATCH_LOCK_CLASS, account_id)
            )
            return cur.fetchone()[0]

    def _release(self, cnx, account_id):
        with cnx.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_unlock(%s, %s)", (WATCH_LOCK_CLASS, account_id)
            )

    # ------------------------------------------------------------ watches

    def _start(self, account_id, wanted):
        stop = threading.Event()
        watch = _Watch(None, stop, wanted)
        folder, others, _fingerprint, sync_flags = wanted

        def on_state(state, detail):
            watch.state = state
            _logger.info("Account %s: %s %s", account_id, state, detail or "")

        watch.thread = FolderWatch(
            f"crm_mail_watch {self.dbname}/{account_id}",
            lambda: self._open_session(account_id),
            folder,
            lambda reason: self._wake(account_id, reason),
            stop,
            on_state=on_state,
            others=others,
            flags=sync_flags,
        )
        self.watches[account_id] = watch
        watch.thread.start()
        _logger.info("Watching account %s (%s).", account_id, folder)

    def _end(self, account_id):
        watch = self.watches.pop(account_id)
        watch.stop.set()
        self.ending[account_id] = watch

    def _reap(self, cnx):
        """Free the leases of watches that have ended."""
        for account_id, watch in list(self.ending.items()):
            if not watch.thread.is_alive():
                del self.ending[account_id]
                if watch.leased:
                    self._release(cnx, account_id)
                _logger.info("Stopped watching account %s.", account_id)

    def _drop_all(self):
        """End every watch and wait for them; the leases go with the
        connection, which is closed. A watch still in a fetch stays known
        (no second one is started beside it) until it ends."""
        for account_id in list(self.watches):
            self._end(account_id)
        for watch in self.ending.values():
            watch.thread.join(STOP_WAIT)
            watch.leased = False
        self.ending = {
            account_id: watch
            for account_id, watch in self.ending.items()
            if watch.thread.is_alive()
        }
        cnx, self.lease_cnx = self.lease_cnx, None
        if cnx is not None and not cnx.closed:
            try:
                cnx.close()
            except psycopg2.Error as exc:
                _logger.info("Closing the lease connection: %s", exc)

    # ------------------------------------------------------------ in threads

    def _registry(self):
        # one thread reloads a changed registry; the others wait for it
        with self._signaling:
            return Registry(self.dbname).check_signaling()

    def _open_session(self, account_id):
        """A new IMAP connection of the account (its settings read now)."""
        threading.current_thread().dbname = self.dbname
        registry = self._registry()
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            # may renew an OAuth2 token: committed with this cursor
            config = env["crm.mail.account"].browse(account_id)._incoming_config()
        return ImapSession.open(config)

    def _wake(self, account_id, reason):
        """Run the account's fetch (in a transaction of this thread)."""
        threading.current_thread().dbname = self.dbname
        with self.fetch_slots:
            registry = self._registry()
            with registry.manage_changes(), registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                account = env["crm.mail.account"].browse(account_id)
                run = account._watch_wake()
                if run is None:
                    return False
                _logger.info(
                    "Account %s (%s): %s stored.",
                    account_id,
                    reason,
                    run.counts["stored"],
                )
                return True
