"""Fixtures of the engine suite: a real Dovecot and SMTP peer on loopback.

One Dovecot and one SMTP peer serve the whole run; every test that touches
mail gets a fresh mailbox user, so tests never see each other's mail.
Faults come from real sockets: a port nobody listens on, a server that never
answers, a tiny server that does not offer STARTTLS, a foreign CA.
"""

import itertools
import socket
import threading
from dataclasses import dataclass

import pytest

from devtools.certs import make_ca_and_cert
from devtools.dovecot import Dovecot
from devtools.ports import LOOPBACK, free_port
from devtools.smtp_peer import SmtpPeer
from mail_engine.sessions import ServerConfig

ALICE = ("alice@example.test", "secret")
SMTP_LOGIN = ("sender@example.test", "smtp-secret")
REFUSED_RCPT = "bad@example.com"
#: short enough to keep the suite fast, long enough for a loaded machine
TIMEOUT = 10

_counter = itertools.count(1)


@dataclass
class Mailbox:
    login: str
    password: str


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory):
    server = Dovecot(tmp_path_factory.mktemp("dovecot"))
    server.start()
    try:
        server.add_user(*ALICE)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_peer(tmp_path_factory, dovecot):
    # same CA as Dovecot: one ca_pem serves both, as for a real provider
    peer = SmtpPeer(
        tmp_path_factory.mktemp("smtp"),
        login=SMTP_LOGIN[0],
        password=SMTP_LOGIN[1],
        refuse_rcpt={REFUSED_RCPT},
        certs=dovecot.certs,
        oauth_store=dovecot.oauth_store,
    )
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="session")
def foreign_ca_pem(tmp_path_factory):
    """A CA that signed nothing our servers use."""
    return make_ca_and_cert(tmp_path_factory.mktemp("foreign-ca"))["ca_pem"]


@pytest.fixture
def mailbox(dovecot):
    """A new, empty mailbox user for this test."""
    number = next(_counter)
    box = Mailbox(f"user{number}@example.test", f"pw-{number}")
    dovecot.add_user(box.login, box.password)
    return box


@pytest.fixture
def incoming_config(dovecot, mailbox):
    """``incoming_config(protocol, security, **overrides)`` -> ServerConfig."""

    def make(protocol="imap", security="ssl", **overrides):
        ports = {
            ("imap", "ssl"): dovecot.imaps_port,
            ("imap", "starttls"): dovecot.imap_port,
            ("pop3", "ssl"): dovecot.pop3s_port,
            ("pop3", "starttls"): dovecot.pop3_port,
        }
        values = {
            "host": dovecot.host,
            "port": ports[(protocol, security)],
            "security": security,
            "login": mailbox.login,
            "password": mailbox.password,
            "timeout": TIMEOUT,
            "ca_pem": dovecot.ca_pem,
            **overrides,
        }
        return ServerConfig(**values)

    return make


@pytest.fixture
def smtp_config(smtp_peer):
    """``smtp_config(security, **overrides)`` -> ServerConfig of the peer."""

    def make(security="ssl", **overrides):
        port = smtp_peer.smtps_port if security == "ssl" else smtp_peer.starttls_port
        values = {
            "host": smtp_peer.host,
            "port": port,
            "security": security,
            "login": SMTP_LOGIN[0],
            "password": SMTP_LOGIN[1],
            "timeout": TIMEOUT,
            "ca_pem": smtp_peer.ca_pem,
            **overrides,
        }
        return ServerConfig(**values)

    return make


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on (connections are refused)."""
    return free_port()


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never says a word."""
    # the kernel completes the handshake from the backlog; nobody accepts
    with socket.create_server((LOOPBACK, 0), backlog=8) as server:
        yield server.getsockname()[1]


class FakeServer:
    """Greets, then answers commands from a table; never offers TLS.

    :param str greeting: first line(s) sent on connect
    :param dict replies: command word -> reply; ``{tag}`` is the IMAP tag
    """

    def __init__(self, greeting, replies):
        self.greeting = greeting
        self.replies = replies
        self.sock = socket.create_server((LOOPBACK, 0))
        # closing a socket does not wake a blocked accept(): poll instead
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._talk(conn)
                except OSError:
                    pass  # the client hung up first: fine for a fake

    def _talk(self, conn):
        conn.sendall(self.greeting.encode())
        for line in conn.makefile("rb"):
            words = line.decode("ascii", "replace").split()
            if not words:
                continue
            tag = words[0]
            # IMAP commands start with a tag, POP3 and SMTP ones do not
            reply = self.replies.get(tag.upper())
            if reply is None and len(words) > 1:
                reply = self.replies.get(words[1].upper())
            conn.sendall((reply or "{tag} BAD unknown\r\n").format(tag=tag).encode())

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


FAKE_SCRIPTS = {
    "imap": (
        "* OK fake IMAP ready\r\n",
        {
            "CAPABILITY": "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n",
            "LOGOUT": "* BYE bye\r\n{tag} OK done\r\n",
        },
    ),
    "pop3": (
        "+OK fake POP3 ready\r\n",
        {"CAPA": "+OK\r\nUSER\r\nUIDL\r\n.\r\n", "QUIT": "+OK bye\r\n"},
    ),
    "smtp": (
        "220 fake ESMTP\r\n",
        {"EHLO": "250-fake\r\n250 AUTH PLAIN\r\n", "QUIT": "221 bye\r\n"},
    ),
}


@pytest.fixture
def no_starttls_server():
    """``no_starttls_server('imap'|'pop3'|'smtp')`` -> port of a fake server."""
    servers = []

    def make(protocol):
        server = FakeServer(*FAKE_SCRIPTS[protocol])
        servers.append(server)
        return server.port

    yield make
    for server in servers:
        server.stop()
