"""FolderWatch against a real Dovecot: it wakes the fetch on what arrives."""

import random
import threading
import time

import pytest

from devtools.dovecot import Dovecot
from mail_engine import watch
from mail_engine.imap_session import ImapSession
from mail_engine.sessions import ServerConfig
from mail_engine.watch import FolderWatch, backoff_delay

#: the server timeout of the sessions (as in conftest)
TIMEOUT = 10
#: a generous bound for "within seconds" on a loaded machine
WAIT = 30


def mail(subject):
    return (
        f"From: Ivan <ivan@client.example>\r\nTo: sales@example.test\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{subject}.{time.time_ns()}@x>\r\n"
        f"\r\nHello\r\n"
    ).encode()


class Fetcher:
    """Stands in for the account's fetch: takes new UIDs above a checkpoint,
    the way the real fetch does, and records what each wake found."""

    def __init__(self, config, delay=0.0):
        self.config = config
        self.delay = delay
        self.last_uid = 0
        self.uids = []
        self.reasons = []
        self.event = threading.Event()

    def __call__(self, reason):
        self.reasons.append(reason)
        time.sleep(self.delay)
        with ImapSession.open(self.config) as session:
            _validity, uids = session.search_uids("INBOX", above_uid=self.last_uid)
        if uids:
            self.uids.extend(uids)
            self.last_uid = uids[-1]
            self.event.set()

    def wait_for(self, count):
        deadline = time.monotonic() + WAIT
        while len(self.uids) < count and time.monotonic() < deadline:
            self.event.wait(0.2)
            self.event.clear()
        return len(self.uids)


def start(config, fetcher, **kw):
    stop = threading.Event()
    states = []
    thread = FolderWatch(
        "watch-test",
        lambda: ImapSession.open(config),
        "INBOX",
        fetcher,
        stop,
        on_state=lambda state, detail: states.append(state),
        **kw,
    )
    thread.start()
    return thread, stop, states


def stop_watch(thread, stop):
    stop.set()
    thread.join(10)
    assert not thread.is_alive(), "the watch did not stop within 10 s"


def test_backoff_grows_and_a_refused_login_waits_long():
    rng = random.Random(1)
    delays = [backoff_delay(n, rng=rng) for n in range(1, 10)]
    assert delays[0] < 3
    assert delays == sorted(delays) or delays[-1] >= watch.BACKOFF[-1]
    assert all(d <= watch.BACKOFF[-1] * 1.2 for d in delays)
    assert backoff_delay(1, auth=True, rng=rng) >= watch.AUTH_BACKOFF


def test_wakes_at_start_and_on_each_new_mail(dovecot, incoming_config, mailbox):
    config = incoming_config("imap", "ssl")
    # mail that came while nobody watched is fetched at once
    dovecot.deliver(mailbox.login, mail("before"))
    fetcher = Fetcher(config)
    thread, stop, states = start(config, fetcher)
    try:
        assert fetcher.wait_for(1) == 1
        assert fetcher.reasons[0] == "connected"
        for number in range(3):
            started = time.monotonic()
            dovecot.deliver(mailbox.login, mail(f"live{number}"))
            assert fetcher.wait_for(2 + number) == 2 + number
            assert time.monotonic() - started < WAIT
        assert "watching" in states
    finally:
        stop_watch(thread, stop)


def test_mail_arriving_during_a_fetch_is_not_missed(dovecot, incoming_config, mailbox):
    """A mail delivered while the fetch runs (after its search) is seen on
    the next SELECT, not left waiting for the next change."""
    config = incoming_config("imap", "ssl")
    fetcher = Fetcher(config)
    calls = []

    def slow_then_deliver(reason):
        calls.append(reason)
        fetcher(reason)
        if len(calls) == 2:
            # the fetch searched already: this one comes "during" it
            dovecot.deliver(mailbox.login, mail("during"))

    thread, stop, _states = start(config, slow_then_deliver)
    try:
        fetcher.wait_for(0)
        time.sleep(0.5)
        dovecot.deliver(mailbox.login, mail("first"))
        assert fetcher.wait_for(2) == 2, calls
    finally:
        stop_watch(thread, stop)


def test_stop_is_prompt(incoming_config):
    config = incoming_config("imap", "starttls")
    thread, stop, _states = start(config, Fetcher(config), renew=600)
    time.sleep(1.5)
    started = time.monotonic()
    stop_watch(thread, stop)
    assert time.monotonic() - started < 5


def test_wrong_password_backs_off(incoming_config, monkeypatch):
    """A refused login is retried after a long pause, not in a loop."""
    config = incoming_config("imap", "ssl", password="wrong")
    opened = []

    def open_session():
        opened.append(time.monotonic())
        return ImapSession.open(config)

    stop = threading.Event()
    states = []
    thread = FolderWatch(
        "watch-test",
        open_session,
        "INBOX",
        lambda reason: None,
        stop,
        on_state=lambda state, detail: states.append(state),
    )
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not states and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)
        assert states[:1] == ["retrying"]
        assert len(opened) == 1  # waiting AUTH_BACKOFF before the next try
    finally:
        stop_watch(thread, stop)


@pytest.fixture
def own_dovecot(tmp_path):
    server = Dovecot(tmp_path / "dovecot")
    server.start()
    yield server
    server.stop()


def test_survives_a_server_restart(own_dovecot, monkeypatch):
    """Dovecot restarts under the watch: it reconnects (first pause 2 s)
    and the mail delivered after the restart is fetched."""
    own_dovecot.add_user("restart@example.test", "pw")
    config = ServerConfig(
        host=own_dovecot.host,
        port=own_dovecot.imaps_port,
        security="ssl",
        login="restart@example.test",
        password="pw",
        timeout=TIMEOUT,
        ca_pem=own_dovecot.ca_pem,
    )
    fetcher = Fetcher(config)
    thread, stop, states = start(config, fetcher)
    try:
        own_dovecot.deliver("restart@example.test", mail("one"))
        assert fetcher.wait_for(1) == 1
        own_dovecot.restart()
        own_dovecot.deliver("restart@example.test", mail("two"))
        assert fetcher.wait_for(2) == 2, states
        assert "retrying" in states
        assert thread.is_alive()
    finally:
        stop_watch(thread, stop)


def test_a_server_without_idle_ends_the_watch(incoming_config):
    """Such a server stays on the fetch cron: the watch says so and ends."""
    config = incoming_config("imap", "ssl")

    class NoIdle:
        def __init__(self):
            self.session = ImapSession.open(config)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.session.close()

        can_idle = False

    stop = threading.Event()
    states = []
    thread = FolderWatch(
        "watch-test",
        NoIdle,
        "INBOX",
        lambda reason: None,
        stop,
        on_state=lambda state, detail: states.append(state),
    )
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert states == ["no_idle"]


@pytest.fixture
def notify_dovecot(tmp_path):
    """A Dovecot with mailbox list indexes: it offers NOTIFY."""
    server = Dovecot(tmp_path / "dovecot", list_index=True)
    server.start()
    yield server
    server.stop()


def test_other_folders_wake_the_fetch_by_notify(notify_dovecot):
    """A mail another client puts into a fetched folder other than the Inbox
    (NOTIFY, RFC 5465) wakes the fetch too."""
    notify_dovecot.add_user("notify@example.test", "pw")
    config = ServerConfig(
        host=notify_dovecot.host,
        port=notify_dovecot.imaps_port,
        security="ssl",
        login="notify@example.test",
        password="pw",
        timeout=TIMEOUT,
        ca_pem=notify_dovecot.ca_pem,
    )
    with ImapSession.open(config) as client:
        assert "NOTIFY" in client.capabilities
        client._imap.create("Archive")
    wakes = []
    woken = threading.Event()

    def wake(reason):
        wakes.append(reason)
        woken.set()

    stop = threading.Event()
    thread = FolderWatch(
        "watch-test",
        lambda: ImapSession.open(config),
        "INBOX",
        wake,
        stop,
        others=["Archive"],
    )
    thread.start()
    try:
        assert woken.wait(WAIT)  # the first fetch, at connection
        time.sleep(1)
        woken.clear()
        with ImapSession.open(config) as client:
            client.append("Archive", mail("filed"))
        assert woken.wait(WAIT), wakes
        assert len(wakes) >= 2
    finally:
        stop_watch(thread, stop)


def test_a_fetch_that_could_not_run_is_asked_again(incoming_config):
    """The account was busy or the fetch failed: the watch asks again after
    a pause instead of leaving the mail to the cron."""
    config = incoming_config("imap", "ssl")
    calls = []
    again = threading.Event()

    def wake(reason):
        calls.append(reason)
        if len(calls) > 1:
            again.set()
            return True
        return False

    stop = threading.Event()
    thread = FolderWatch(
        "watch-test", lambda: ImapSession.open(config), "INBOX", wake, stop
    )
    thread.start()
    try:
        assert again.wait(WAIT), calls
    finally:
        stop_watch(thread, stop)


@pytest.mark.parametrize("flags", [False, True])
def test_flag_changes_wake_only_accounts_that_sync_them(
    dovecot, incoming_config, mailbox, flags
):
    config = incoming_config("imap", "ssl")
    dovecot.deliver(mailbox.login, mail("flagged elsewhere"))
    calls = []
    woken = threading.Event()

    def wake(reason):
        calls.append(reason)
        woken.set()

    stop = threading.Event()
    thread = FolderWatch(
        "watch-test", lambda: ImapSession.open(config), "INBOX", wake, stop, flags=flags
    )
    thread.start()
    try:
        assert woken.wait(WAIT)
        time.sleep(1)  # in IDLE
        woken.clear()
        with ImapSession.open(config) as desktop:
            desktop.set_flag("INBOX", [1], "\\Seen")
        assert woken.wait(5) is flags, calls
    finally:
        stop_watch(thread, stop)
