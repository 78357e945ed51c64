"""A POP3 session over verified TLS: UIDL, RETR, DELE, and QUIT to commit."""

import base64
import contextlib
import poplib

from .exceptions import TLSError
from .sessions import oauth_responder, translate_errors
from .tls import make_ssl_context

#: longest line accepted; poplib's own limit (2048) rejects real mail whose
#: HTML or base64 lines ignore RFC 5322's 998 characters
MAX_LINE = 1024 * 1024


class _LongLinesMixin:
    """poplib's line reader with :data:`MAX_LINE` instead of 2048 bytes."""

    def _getline(self):
        line = self.file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        # as poplib: lines end in LF, CRLF, or (rarely) start with CR
        if line[-2:] == b"\r\n":
            return line[:-2], octets
        if line[:1] == b"\r":
            return line[1:-1], octets
        return line[:-1], octets


class _POP3(_LongLinesMixin, poplib.POP3):
    pass


class _POP3_SSL(_LongLinesMixin, poplib.POP3_SSL):
    pass


def _authenticate(pop, config):
    """POP3 AUTH (RFC 5034) with an OAuth2 mechanism; poplib has no AUTH.

    :raise poplib.error_proto: the server's refusal
    """
    respond = oauth_responder(config)
    pop._putcmd(f"AUTH {config.sasl_mechanism}")
    pop._getresp()  # "+ ": go on (an -ERR raises)
    pop._putcmd(base64.b64encode(respond().encode()).decode())
    answer = pop._getresp()
    if not answer.startswith(b"+OK"):
        # "+ <error details>": the closing answer, then the server's -ERR
        pop._putcmd(base64.b64encode(respond().encode()).decode())
        pop._getresp()
        raise poplib.error_proto(answer)


class Pop3Session:
    """A logged-in POP3 connection. Open with :meth:`open`; use ``with``.

    Deletions take effect at :meth:`close` (QUIT), as POP3 defines.
    """

    def __init__(self, pop, config):
        self._pop = pop
        self.config = config

    @classmethod
    def open(cls, config):
        """Connect over TLS (POP3S or STLS) and log in with USER/PASS.

        :param ServerConfig config: the server
        :return: the logged-in :class:`Pop3Session`
        :raise TLSError: ``tls_not_offered`` when STLS is missing
        :raise MailEngineError: any other failure (see ``translate_errors``)
        """
        context = make_ssl_context(config.verify, config.ca_pem)
        pop = None
        try:
            with translate_errors(config.server):
                if config.security == "ssl":
                    pop = _POP3_SSL(
                        config.host,
                        config.port,
                        timeout=config.timeout,
                        context=context,
                    )
                else:
                    pop = _POP3(config.host, config.port, timeout=config.timeout)
                    try:
                        capabilities = pop.capa()
                    except poplib.error_proto:
                        capabilities = {}  # no CAPA: an old server, no STLS
                    if "STLS" not in capabilities:
                        raise TLSError(
                            f"STLS not offered ({config.server})",
                            code="tls_not_offered",
                            detail=" ".join(capabilities),
                        )
                    pop.stls(context=context)
            with translate_errors(config.server, login=True):
                if config.sasl_mechanism:
                    _authenticate(pop, config)
                else:
                    pop.user(config.login)
                    pop.pass_(config.password)
        except BaseException:
            if pop is not None:
                _drop(pop)
            raise
        return cls(pop, config)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def uidl(self):
        """Unique ids of the messages on the server.

        :return: dict ``{uidl: message number}``
        """
        with translate_errors(self.config.server):
            _response, lines, _octets = self._pop.uidl()
        found = {}
        for line in lines:
            number, _sep, uidl = line.decode("ascii", "replace").partition(" ")
            if uidl:
                found.setdefault(uidl.strip(), int(number))
        return found

    def retrieve(self, number):
        """The whole message (RETR); poplib undoes the dot-stuffing.

        :param int number: message number in this session
        :return: the message as bytes, lines ending in CRLF
        """
        with translate_errors(self.config.server):
            _response, lines, _octets = self._pop.retr(number)
        return b"\r\n".join(lines) + b"\r\n"

    def delete(self, number):
        """Mark a message for deletion (done at QUIT).

        :param int number: message number in this session
        """
        with translate_errors(self.config.server):
            self._pop.dele(number)

    def close(self):
        """QUIT, which commits the deletions; safe to repeat."""
        pop, self._pop = self._pop, None
        if pop is None:
            return
        try:
            with translate_errors(self.config.server):
                pop.quit()
        finally:
            _drop(pop)


def _drop(pop):
    """Close the connection without a word to the server."""
    # a failed STLS leaves poplib holding a detached socket: nothing to close
    with contextlib.suppress(OSError):
        pop.close()
