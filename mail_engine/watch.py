"""Watching one mailbox folder in IMAP IDLE and waking its fetch.

:class:`FolderWatch` keeps one IMAP connection in IDLE (RFC 2177) on a
folder and calls ``wake`` whenever the folder may hold something the last
fetch did not see: at every (re)connection, and whenever the server reports
a change. It never fetches or stores mail itself: ``wake`` runs the normal
fetch (exactly-once, under the account's lock) and returns when it is done.

No change is lost between a fetch and the next IDLE: before going back to
IDLE the folder is selected again and its ``(UIDVALIDITY, UIDNEXT,
messages)`` compared with what they were before the fetch began; anything
that arrived meanwhile wakes the fetch once more. IDLE is renewed every
``renew`` seconds (servers end it after 29 minutes or so). A failing
connection is retried after growing pauses (:data:`BACKOFF`), so a server
that is down or refuses the login is not hammered.
"""

import logging
import random
import threading
import time

from .exceptions import AuthError, MailEngineError

_logger = logging.getLogger(__name__)

#: pauses (s) before the 1st, 2nd... reconnection after a failure; the last
#: one repeats
BACKOFF = (2, 5, 15, 30, 60, 120, 300)
#: a refused login waits at least this long (s): a wrong password is not
#: tried again and again (servers lock such accounts)
AUTH_BACKOFF = 300
#: IDLE is ended and started again this often (s): under the idle timeouts
#: of common NAT gateways and load balancers (4-6 minutes), far under the
#: servers' own (Gmail: 29 minutes)
RENEW = 270
#: what in IDLE means new mail (the selected folder, or another by NOTIFY)
NEW_MAIL = (b"EXISTS", b"RECENT")
#: a connection that lasted this long (s) counts as having worked: the next
#: failure starts the backoff from its first pause again
STABLE = 60


def backoff_delay(failures, auth=False, rng=random):
    """Seconds to wait before reconnecting after ``failures`` failures in a
    row, with a little jitter so that many watches do not reconnect at the
    same instant after a server restart.

    :param int failures: failures in a row (1 for the first)
    :param bool auth: the last failure was a refused login
    :return: seconds

    >>> backoff_delay(1, rng=random.Random(0)) < backoff_delay(9)
    True
    """
    base = BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]
    if auth:
        base = max(base, AUTH_BACKOFF)
    return base * (1 + rng.random() * 0.2)


class FolderWatch(threading.Thread):
    """A thread that keeps ``folder`` in IDLE and wakes the fetch.

    :param str name: thread name (for logs)
    :param open_session: callable returning a logged-in
        :class:`~.imap_session.ImapSession` (a new connection each call)
    :param str folder: the folder to watch (``INBOX``)
    :param wake: callable ``wake(reason)`` that runs a fetch and returns
        when it is done; False when it could not (asked again after a
        pause); its exceptions are logged, never end the watch
    :param stop: ``threading.Event`` that ends the watch
    :param float renew: seconds between IDLE renewals
    :param on_state: optional callable ``on_state(state, detail)`` told
        ``"watching"``, ``"no_idle"`` (the server has no IDLE: the watch
        ends), ``"retrying"`` (a failure, reconnecting after a pause)
    :param others: other fetched folders, watched too where the server
        offers NOTIFY (RFC 5465); else they come with the periodic fetch
    :param bool flags: flags changed and mail expunged also wake the fetch
        (the account syncs read marks); otherwise only new mail does
    """

    def __init__(
        self,
        name,
        open_session,
        folder,
        wake,
        stop,
        renew=RENEW,
        on_state=None,
        others=(),
        flags=False,
    ):
        super().__init__(name=name, daemon=True)
        self.open_session = open_session
        self.folder = folder
        self.others = list(others)
        self.flags = flags
        self.wake = wake
        self.stop = stop
        self.renew = renew
        self.on_state = on_state or (lambda state, detail: None)
        self.failures = 0
        self.wake_failures = 0
        self.wakes = 0

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                if self._watch() == "no_idle":
                    return
            except MailEngineError as exc:
                if time.monotonic() - started > STABLE:
                    self.failures = 0
                self.failures += 1
                delay = backoff_delay(self.failures, auth=isinstance(exc, AuthError))
                _logger.info(
                    "%s: %s; reconnecting in %.0f s (failure %d).",
                    self.name,
                    exc,
                    delay,
                    self.failures,
                )
                self.on_state("retrying", str(exc))
                self.stop.wait(delay)
            except Exception:  # noqa: BLE001 - a watch thread must not die
                self.failures += 1
                _logger.exception("%s failed; reconnecting.", self.name)
                self.on_state("retrying", "unexpected error")
                self.stop.wait(backoff_delay(self.failures))

    def _watch(self):
        """One connection: wake, IDLE, wake... until stop or a failure."""
        with self.open_session() as session:
            if not session.can_idle:
                _logger.info("%s: the server has no IDLE.", self.name)
                self.on_state("no_idle", "")
                return "no_idle"
            # the other fetched folders, where the server can tell (NOTIFY)
            session.notify(self.others)
            self.on_state("watching", "")
            fetched = None  # the folder's state the last fetch started from
            while not self.stop.is_set():
                state = session.select(self.folder)
                state = (*state, session.message_count())
                if session.take_status():
                    fetched = None  # another folder changed meanwhile
                if state != fetched:
                    # new since the last fetch (or first time on this
                    # connection: the time nobody watched): fetch, then
                    # select again, since mail may come during the fetch
                    if self._wake("connected" if self.wakes == 0 else "changed"):
                        fetched = state
                    else:
                        # not fetched (failed, or busy elsewhere too long):
                        # asked again after a pause, not left to the cron
                        self.wake_failures += 1
                        self.stop.wait(backoff_delay(self.wake_failures))
                    continue
                self.wake_failures = 0
                changes = session.idle(self.folder, self.renew, stop=self.stop)
                # IDLE accepted and ended well: the connection works
                self.failures = 0
                if self._wants(changes):
                    fetched = None
        return "stopped"

    def _wants(self, changes):
        """Whether what IDLE reported needs a fetch."""
        if self.flags:
            return bool(changes)
        return any(
            change.split()[-1] in NEW_MAIL or change.startswith(b"STATUS")
            for change in changes
        )

    def _wake(self, reason):
        """Run the fetch; True when it ran."""
        self.wakes += 1
        try:
            return self.wake(reason) is not False
        except Exception:  # noqa: BLE001 - the watch goes on; the cron retries
            _logger.exception("%s: the fetch it woke failed.", self.name)
            return False
