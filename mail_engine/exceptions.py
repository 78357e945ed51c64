"""Domain errors of the mail engine.

Every error carries a machine-readable ``code`` so that callers (the Odoo
models) can turn it into a translated, user-facing message without parsing
English text. ``detail`` keeps the low-level reason for logs.
"""


class MailEngineError(Exception):
    """Base class of all engine errors."""

    code = "error"

    def __init__(self, message="", *, code=None, detail=None):
        super().__init__(message or self.code)
        if code:
            self.code = code
        self.detail = detail


class ConnectError(MailEngineError):
    """The server could not be reached.

    codes: ``host_not_found``, ``connection_refused``, ``network``.
    """

    code = "network"


class MailTimeoutError(MailEngineError):
    """The server did not answer within the configured timeout."""

    code = "timeout"


class TLSError(MailEngineError):
    """TLS could not be established.

    codes: ``certificate`` (not trusted / wrong host), ``tls_not_offered``
    (STARTTLS missing), ``tls`` (any other handshake failure).
    """

    code = "tls"


class AuthError(MailEngineError):
    """The server refused the login or password."""

    code = "auth"


class ProtocolError(MailEngineError):
    """The server answered something we cannot work with."""

    code = "protocol"


class ConfigError(MailEngineError):
    """The settings given to the engine are unusable (e.g. plaintext)."""

    code = "config"


class ParseError(MailEngineError):
    """A message could not be parsed."""

    code = "parse"
