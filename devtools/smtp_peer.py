"""A loopback SMTP server that receives what the addon sends.

Two aiosmtpd listeners on 127.0.0.1: implicit TLS (SMTPS) and plain SMTP
that insists on STARTTLS. Both require AUTH (PLAIN or LOGIN) with the given
login and password. Every accepted mail is kept in :attr:`SmtpPeer.messages`
and written as an ``.eml`` file into :attr:`SmtpPeer.outbox`.

CLI (for the demo)::

    python -m devtools.smtp_peer --workdir DIR --login L --password P
"""

import argparse
import base64
import contextlib
import json
import logging
import signal
import ssl
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

from .certs import make_ca_and_cert
from .ports import LOOPBACK, free_port

#: seconds aiosmtpd may take to bring a listener up
READY_TIMEOUT = 10


class _QuietAiosmtpd(logging.Filter):
    """Drop the warning aiosmtpd logs about itself on every login."""

    def filter(self, record):
        return "Session.login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietAiosmtpd())


class _ImplicitTlsSMTP(SMTP):
    """aiosmtpd's SMTP, told that an SMTPS connection is encrypted.

    aiosmtpd 1.4 counts only STARTTLS as TLS, so ``auth_require_tls`` would
    refuse AUTH on SMTPS (aio-libs/aiosmtpd#281); its check is on
    ``_tls_protocol``, which STARTTLS would have set.
    """

    def connection_made(self, transport):
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is not None:
            self._tls_protocol = transport


class _ImplicitTlsController(Controller):
    def factory(self):
        return _ImplicitTlsSMTP(self.handler, **self.SMTP_kwargs)


class _Handler:
    """aiosmtpd hooks of one listener: refuse some recipients, store the rest."""

    def __init__(self, peer, port):
        self.peer = peer
        self.port = port

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.peer.mail_reply:
            return self.peer.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.peer.refuse_rcpt:
            if self.peer.refuse_code < 500:  # "try again later" (greylisting)
                return f"{self.peer.refuse_code} 4.7.1 <{address}>: Try again later"
            return (
                f"{self.peer.refuse_code} 5.1.1 <{address}>: Recipient address rejected"
            )
        envelope.rcpt_tos.append(address)
        return "250 OK"

    # OAuth2 logins (custom mechanisms of aiosmtpd: handler methods)
    async def auth_XOAUTH2(self, server, args):
        return await self.peer._oauth_login(server, args)

    async def auth_OAUTHBEARER(self, server, args):
        return await self.peer._oauth_login(server, args)

    async def handle_DATA(self, server, session, envelope):
        self.peer._store(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": bytes(envelope.original_content),
                "port": self.port,
            }
        )
        return "250 2.0.0 Message accepted"


class SmtpPeer:
    """The SMTP peer: ``start()``, send to it, read ``messages``, ``stop()``.

    :param workdir: folder for its certificates and the ``outbox`` folder
    :param str login: the only login accepted
    :param str password: its password
    :param refuse_rcpt: recipients answered with ``550`` (case-insensitive)
    :param dict certs: ``cert_path``/``key_path``/``ca_path`` to serve (e.g.
        ``Dovecot.certs``, so clients trust one CA); a new CA when omitted
    :param bool save_eml: also write every mail into ``workdir/outbox``
    :param oauth_store: a :class:`~devtools.oauth_provider.TokenStore`:
        XOAUTH2 and OAUTHBEARER logins are checked against its live tokens
        (any user of the store, the token's own); without it they fail
    """

    host = LOOPBACK

    def __init__(
        self,
        workdir,
        login="user@example.test",
        password="secret",
        refuse_rcpt=(),
        certs=None,
        save_eml=True,
        oauth_store=None,
    ):
        self.workdir = Path(workdir).resolve()
        self.login = login
        self.password = password
        self.refuse_rcpt = {address.lower() for address in refuse_rcpt}
        # the reply code of a refusal: 550 for good, 4xx to try again later
        self.refuse_code = 550
        # an answer to MAIL FROM instead of 250, e.g. "421 ..." (a server
        # closing the session: smtplib then drops the connection)
        self.mail_reply = None
        self.certs = certs
        self.outbox = self.workdir / "outbox"
        self.save_eml = save_eml
        self.oauth_store = oauth_store
        self.oauth_logins = []  # users logged in by OAuth2
        # ``deliver(recipient, raw)``: hands accepted mail on (e.g. to
        # Dovecot's mailbox of that recipient); None keeps it here only
        self.deliver = None
        self.smtps_port = free_port()
        self.starttls_port = free_port()
        self.messages = []
        self.logins = 0  # accepted logins: one per SMTP session
        self._lock = threading.Lock()
        self._controllers = []

    @property
    def ca_pem(self):
        """PEM text of the CA that signed the peer's certificate."""
        return Path(self.certs["ca_path"]).read_text()

    # ------------------------------------------------------------ lifecycle

    def start(self):
        """Create the certificate if needed and open both listeners."""
        if self._controllers:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.save_eml:
            self.outbox.mkdir(exist_ok=True)
        if self.certs is None:
            self.certs = make_ca_and_cert(self.workdir / "certs")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certs["cert_path"], self.certs["key_path"])
        common = {
            "hostname": self.host,
            "server_hostname": "localhost",
            "ready_timeout": READY_TIMEOUT,
            "authenticator": self._authenticate,
            "auth_required": True,
            "auth_require_tls": True,
            "enable_SMTPUTF8": True,
        }
        self._controllers = [
            _ImplicitTlsController(
                _Handler(self, self.smtps_port),
                port=self.smtps_port,
                ssl_context=context,
                **common,
            ),
            Controller(
                _Handler(self, self.starttls_port),
                port=self.starttls_port,
                tls_context=context,
                require_starttls=True,
                **common,
            ),
        ]
        try:
            for controller in self._controllers:
                controller.start()
        except Exception:
            self.stop()
            raise

    def stop(self):
        """Close both listeners; safe to call twice."""
        controllers, self._controllers = self._controllers, []
        for controller in controllers:
            # a controller that failed to start asserts on its missing thread
            with contextlib.suppress(AssertionError):
                controller.stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ mail

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.login.encode()
            and auth_data.password == self.password.encode()
        )
        if ok:
            with self._lock:
                self.logins += 1
        # handled=False: aiosmtpd answers "535" itself on a wrong password
        return AuthResult(success=ok, handled=False)

    async def _oauth_login(self, server, args):
        """XOAUTH2 / OAUTHBEARER: the initial response or one after "334 "."""
        if len(args) > 1:
            response = args[1].encode()
        else:
            response = await server.challenge_auth("", encode_to_b64=False)
            if response is MISSING:  # "*": aiosmtpd answered 501 already
                return AuthResult(success=False, handled=True)
            response = bytes(response)
        try:
            text = base64.b64decode(response, validate=True).decode()
        except ValueError:
            return AuthResult(
                success=False, handled=False, message="501 5.5.2 Can't decode base64"
            )
        fields = dict(
            item.split("=", 1)
            for item in text.replace(",", "\1").split("\1")
            if "=" in item
        )
        user = fields.get("user") or fields.get("a") or ""
        token = fields.get("auth", "").removeprefix("Bearer ")
        found = self.oauth_store.introspect(token) if self.oauth_store else {}
        if found.get("active") and found.get("username") == user:
            with self._lock:
                self.logins += 1
                self.oauth_logins.append(user)
            return AuthResult(success=True, auth_data=user)
        # RFC 7628: an error challenge, the client's empty answer, then 535
        error = json.dumps({"status": "invalid_token", "schemes": "bearer"})
        await server.challenge_auth(error)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535

    def _store(self, message):
        with self._lock:
            self.messages.append(message)
            count = len(self.messages)
        if self.save_eml:
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{count:05d}.eml"
            (self.outbox / name).write_bytes(message["data"])
        if self.deliver is not None:
            # a mail server delivering to its own mailboxes (Postfix handing
            # mail to Dovecot, say): a test message can come back by IMAP
            for rcpt in message["rcpt_tos"]:
                self.deliver(rcpt, message["data"])

    def received(self):
        """A snapshot of the received messages (safe while mail arrives).

        :return: list of dicts ``mail_from``, ``rcpt_tos``, ``data``, ``port``
        """
        with self._lock:
            return list(self.messages)

    def clear(self):
        """Forget the received messages (the ``.eml`` files stay)."""
        with self._lock:
            self.messages.clear()
            self.logins = 0


def main(argv=None):
    """Start the peer, print its ports as JSON, stop on SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="A loopback SMTP peer.")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--login", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument(
        "--certs-dir", help="folder with ca.pem, server.pem, server.key to reuse"
    )
    args = parser.parse_args(argv)
    certs = None
    if args.certs_dir:
        folder = Path(args.certs_dir).resolve()
        certs = {
            "ca_path": str(folder / "ca.pem"),
            "cert_path": str(folder / "server.pem"),
            "key_path": str(folder / "server.key"),
        }
    peer = SmtpPeer(args.workdir, args.login, args.password, certs=certs)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    peer.start()
    try:
        description = {
            "host": peer.host,
            "smtps_port": peer.smtps_port,
            "starttls_port": peer.starttls_port,
            "outbox": str(peer.outbox),
            "ca_path": peer.certs["ca_path"],
            "ca_pem": peer.ca_pem,
        }
        print(json.dumps(description), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        peer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
