"""What the IMAP, POP3 and SMTP sessions share: settings and error mapping.

Every network call of the engine runs inside :func:`translate_errors`, so
callers only ever see :class:`~.exceptions.MailEngineError` subclasses whose
``code`` says what went wrong and whose ``detail`` keeps the original text.
"""

import imaplib
import poplib
import smtplib
import socket
import ssl
from contextlib import contextmanager
from dataclasses import dataclass, field

from .exceptions import (
    AuthError,
    ConfigError,
    ConnectError,
    MailEngineError,
    MailTimeoutError,
    ProtocolError,
    TLSError,
)

#: ``ssl``: TLS from the first byte; ``starttls``: upgrade, or refuse to go on.
#: There is deliberately no plaintext mode.
SECURITY_MODES = ("ssl", "starttls")
PROTOCOLS = ("imap", "pop3")
#: how to log in: a password (LOGIN / USER+PASS / AUTH PLAIN|LOGIN), or an
#: OAuth2 access token in the ``password`` field, sent by SASL XOAUTH2
#: (Google, Microsoft, Yandex, Mail.ru) or OAUTHBEARER (RFC 7628)
AUTH_MODES = ("password", "xoauth2", "oauthbearer")


@dataclass
class ServerConfig:
    """Where and how to connect; validated on creation.

    :raise ConfigError: on an unknown security mode (plaintext is refused),
        a missing host, a port out of range or a non-positive timeout
    """

    host: str
    port: int
    security: str
    login: str
    # kept out of repr(): configs end up in logs and tracebacks
    password: str = field(repr=False)
    timeout: float = 30
    verify: bool = True
    ca_pem: str | None = field(default=None, repr=False)
    #: one of :data:`AUTH_MODES`; with OAuth2, ``password`` is the access token
    auth: str = "password"

    def __post_init__(self):
        if self.auth not in AUTH_MODES:
            raise ConfigError("unknown login method", detail=f"auth={self.auth!r}")
        if self.security not in SECURITY_MODES:
            raise ConfigError(
                "security must be 'ssl' or 'starttls'; plaintext is refused",
                detail=f"security={self.security!r}",
            )
        if not self.host:
            raise ConfigError("no server host", detail="host is empty")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError("invalid port", detail=f"port={self.port!r}")
        if not self.timeout or self.timeout <= 0:
            raise ConfigError("a timeout is required", detail=f"{self.timeout!r}")

    @property
    def server(self):
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def sasl_mechanism(self):
        """The SASL mechanism of an OAuth2 login (``XOAUTH2``...), else None."""
        return None if self.auth == "password" else self.auth.upper()

    def oauth_response(self):
        """The client's first SASL response of an OAuth2 login (not encoded).

        XOAUTH2 is Google's format, also used by Microsoft, Yandex and
        Mail.ru; OAUTHBEARER is RFC 7628's (a GS2 header, then key=value).
        """
        if self.auth == "xoauth2":
            return f"user={self.login}\1auth=Bearer {self.password}\1\1"
        return (
            f"n,a={self.login},\1host={self.host}\1port={self.port}"
            f"\1auth=Bearer {self.password}\1\1"
        )


def oauth_responder(config):
    """A SASL callback for an OAuth2 login: the token first; to the server's
    error challenge the answer that ends the exchange (XOAUTH2: an empty
    line; OAUTHBEARER: ``%x01``, RFC 7628 3.2.3), after which the server sends
    its refusal; ``None`` (abort) to any further challenge."""
    calls = []

    def respond(_challenge=None):
        calls.append(True)
        if len(calls) == 1:
            return config.oauth_response()
        if len(calls) == 2:
            return "\1" if config.auth == "oauthbearer" else ""
        return None

    return respond


@contextmanager
def translate_errors(server="", login=False):
    """Turn socket, TLS and protocol exceptions into engine errors.

    :param str server: ``host:port`` named in the messages
    :param bool login: the block sends the credentials: a refusal by the
        server is then an :class:`AuthError`, not a :class:`ProtocolError`
    :raise MailEngineError: the translated error, chained to the original
    """
    try:
        yield
    except MailEngineError:
        raise
    except (OSError, imaplib.IMAP4.error, poplib.error_proto) as exc:
        cls, code, text = _classify(exc, login)
        where = f" ({server})" if server else ""
        raise cls(text + where, code=code, detail=str(exc)) from exc


def _classify(exc, login):
    """The engine error class, code and message for a library exception."""
    text = str(exc)
    timed_out = "timed out" in text.lower()
    # the OSError subclasses first: ssl.SSLError and smtplib.SMTPException
    # are OSErrors too
    if isinstance(exc, socket.gaierror):
        return ConnectError, "host_not_found", "host not found"
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError, "connection_refused", "connection refused"
    if isinstance(exc, TimeoutError):  # socket.timeout is an alias since 3.10
        return MailTimeoutError, None, "no answer"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError, "certificate", "certificate not trusted"
    if isinstance(exc, ssl.SSLError):
        return TLSError, "tls", "TLS failed"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AuthError, None, "login refused"
    lost = (
        smtplib.SMTPServerDisconnected,
        imaplib.IMAP4.abort,  # imaplib's wrapper of a failed socket
    )
    if isinstance(exc, lost) or (isinstance(exc, poplib.error_proto) and "EOF" in text):
        if timed_out:
            return MailTimeoutError, None, "no answer"
        return ConnectError, "network", "connection lost"
    if isinstance(exc, smtplib.SMTPException):
        return ProtocolError, None, "unexpected answer"
    if isinstance(exc, OSError):
        return ConnectError, "network", "network error"
    if login:
        return AuthError, None, "login refused"
    return ProtocolError, None, "unexpected answer"


def check_incoming(config, protocol):
    """Log in to the incoming server; list its folders for IMAP.

    :param ServerConfig config: the incoming server
    :param str protocol: ``imap`` or ``pop3``
    :return: list of :class:`~.imap_session.FolderInfo` (``[]`` for POP3)
    :raise MailEngineError: when the server cannot be used
    """
    # imported here: both session modules import this one
    from .imap_session import ImapSession
    from .pop3_session import Pop3Session

    if protocol == "imap":
        with ImapSession.open(config) as session:
            return session.list_folders()
    if protocol == "pop3":
        with Pop3Session.open(config) as session:
            session.uidl()  # a command after the login proves the mailbox opens
        return []
    raise ConfigError("protocol must be 'imap' or 'pop3'", detail=repr(protocol))
