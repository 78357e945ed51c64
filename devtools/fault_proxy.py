"""A TLS proxy in front of the private Dovecot that refuses chosen commands.

Some server answers cannot be had from Dovecot on demand: Gmail's ``NO Some
messages could not be FETCHed (Failure)`` for one damaged message, or a
POP3 server's ``-ERR`` on one ``RETR``. The proxy terminates TLS towards the
client (with the certificate of :func:`devtools.certs.make_ca_and_cert`),
opens its own verified TLS connection to Dovecot's implicit-TLS port, and
relays everything byte for byte, except:

- IMAP: a ``UID FETCH`` whose UID set contains one of ``refuse_uids`` is
  answered by the proxy itself with ``<tag> NO <refusal>``; Dovecot never
  sees it;
- POP3: ``RETR n`` with ``n`` in ``refuse_retr`` is answered ``-ERR <refusal>``.

Only what the client sends is parsed, line by line; IMAP literals (``{n}``,
``{n+}``: LOGIN, APPEND) are relayed unread. The proxy answers only between
commands, which holds for clients that wait for each answer before sending
the next command (imaplib and poplib do).

Each connection has two daemon threads, one per direction. TLS runs on
memory BIOs: an ``ssl.SSLSocket`` may not be read in one thread while
another writes to it (OpenSSL forbids concurrent use of one connection),
whereas here every TLS call is short and under a lock, and only the plain
sockets block.
"""

import contextlib
import logging
import re
import socket
import ssl
import threading

from .ports import LOOPBACK

_logger = logging.getLogger(__name__)

#: the answers of the proxy, after ``<tag> NO `` (IMAP) or ``-ERR `` (POP3)
DEFAULT_REFUSALS = {
    "imap": "Some messages could not be FETCHed (Failure)",  # Gmail's words
    "pop3": "[SYS/PERM] Message is unreadable",
}
#: the upstream certificate must name this host (our certificates do)
UPSTREAM_HOSTNAME = "localhost"
#: seconds for the TLS handshakes and the connection to Dovecot
CONNECT_SECONDS = 10
#: seconds stop() waits for each thread
JOIN_SECONDS = 5
#: how often the listener looks whether stop() was called
ACCEPT_POLL = 0.05
#: bytes per socket read
CHUNK = 65536
#: a client line longer than this is relayed in parts, unparsed
MAX_LINE = 65536

# a literal announced at the end of an IMAP line: {12} or non-synchronizing
# {12+}; also matches the ~{12} of BINARY
_LITERAL_RE = re.compile(rb"\{(\d+)\+?\}\r?\n\Z")


def uid_set_contains(text, uids):
    """Whether an IMAP UID set names one of ``uids``.

    ``*`` stands for the highest UID of the folder, which the proxy does not
    know: it is taken as unbounded, so ``4:*`` contains every UID from 4 on
    and a lone ``*`` contains none of ``uids``.

    :param str text: the set as sent, e.g. ``2``, ``1:3``, ``1,3:5``, ``4:*``
    :param uids: the UIDs looked for (integers)
    :return: True when one of ``uids`` is in the set; False also when the set
        is not valid (the server will then answer ``BAD`` itself)
    """
    uids = frozenset(uids)
    try:
        for part in text.split(","):
            first, _sep, last = part.partition(":")
            if not last:
                if first != "*" and int(first) in uids:
                    return True
                continue
            low, high = (
                float("inf") if bound == "*" else int(bound) for bound in (first, last)
            )
            low, high = min(low, high), max(low, high)
            if any(low <= uid <= high for uid in uids):
                return True
    except ValueError:
        return False
    return False


class _TlsPipe:
    """One TLS connection over a plain socket: one reader and one writer thread.

    The TLS state lives in an :class:`ssl.SSLObject` on memory BIOs, touched
    only under ``_tls_lock``; the plain socket does the waiting.

    :param socket.socket sock: the connected plain socket
    :param ssl.SSLContext context: server or client context
    :param bool server_side: True towards the client, False towards Dovecot
    """

    def __init__(self, sock, context, server_side):
        self.sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=None if server_side else UPSTREAM_HOSTNAME,
        )
        self._tls_lock = threading.Lock()
        # records must leave in the order TLS made them: whoever drains the
        # outgoing BIO holds this lock until the bytes are sent
        self._send_lock = threading.Lock()
        self._eof = False

    def _flush(self):
        with self._send_lock:
            with self._tls_lock:
                data = self._outgoing.read()
            if data:
                self.sock.sendall(data)

    def _fill(self):
        """Read the plain socket into the TLS input; False at end of stream."""
        data = self.sock.recv(CHUNK)
        with self._tls_lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
                self._eof = True
        return bool(data)

    def _step(self, operation, *args):
        """Run one TLS call; ``(result, True)`` when it needs more input."""
        with self._tls_lock:
            try:
                result, starved = operation(*args), False
            except ssl.SSLWantReadError:
                result, starved = None, True
            pending = self._outgoing.pending
        # reading may produce output too (TLS 1.3 key updates, alerts)
        if pending:
            self._flush()
        return result, starved

    def handshake(self):
        """Complete the TLS handshake (on a socket with a timeout).

        :raise ssl.SSLError: on a failed handshake (e.g. an untrusted peer)
        :raise ConnectionError: when the peer hangs up during it
        """
        while self._step(self._tls.do_handshake)[1]:
            if not self._fill():
                raise ConnectionError("connection closed during the TLS handshake")

    def recv(self):
        """The next decrypted bytes, as they come.

        :return: bytes; ``b""`` once the peer has closed the connection
        """
        while not self._eof:
            try:
                data, starved = self._step(self._tls.read, CHUNK)
            except ssl.SSLZeroReturnError:
                return b""  # the peer's close_notify
            if not starved:
                return data
            self._fill()
        return b""

    def send(self, data):
        """Encrypt and send ``data`` completely.

        :param bytes data: the plain bytes
        """
        with self._tls_lock:
            self._tls.write(data)
        self._flush()


class _LineReader:
    """CRLF lines and counted bytes from a :class:`_TlsPipe`."""

    def __init__(self, pipe):
        self._pipe = pipe
        self._buffer = b""

    def readline(self):
        """The next line with its line end.

        :return: the line; a part of it after :data:`MAX_LINE` bytes or at the
            end of the stream; ``b""`` at the end of the stream
        """
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            data = b"" if len(self._buffer) >= MAX_LINE else self._pipe.recv()
            if not data:
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += data

    def read_exact(self, size):
        """The next ``size`` bytes, in chunks as they arrive (literals may be
        megabytes: they are never held whole).

        :param int size: how many bytes
        :return: iterator of bytes
        :raise ConnectionError: when the stream ends before
        """
        while size > 0:
            if not self._buffer:
                self._buffer = self._pipe.recv()
                if not self._buffer:
                    raise ConnectionError("connection closed inside a literal")
            chunk, self._buffer = self._buffer[:size], self._buffer[size:]
            size -= len(chunk)
            yield chunk


class _Connection:
    """The sockets and threads of one client connection."""

    def __init__(self, client_sock):
        self.client_sock = client_sock
        self.client = None
        self.upstream = None
        self.thread = None  # client -> server; it starts and joins reverse
        self.reverse = None  # server -> client
        self._sockets = [client_sock]
        self._lock = threading.Lock()
        self._closing = False

    def add_socket(self, sock):
        """Keep ``sock`` to close with the others; False (and closed) when the
        connection is shutting down already."""
        with self._lock:
            if not self._closing:
                self._sockets.append(sock)
                return True
        sock.close()
        return False

    def shutdown(self):
        """Wake both threads: a shut-down socket ends their blocking calls."""
        with self._lock:
            self._closing = True
            sockets = list(self._sockets)
        for sock in sockets:
            # the peer may be gone already
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self):
        """Close the sockets (once no thread uses them any more)."""
        for sock in self._sockets:
            sock.close()


class FaultProxy:
    """The proxy: ``start()``, connect clients to ``host:port``, ``stop()``.

    ``refuse_uids`` and ``refuse_retr`` are plain sets, read at every command:
    a test may change them between (or during) connections. Every refusal is
    appended to :attr:`refused` as ``(command, detail)``, e.g.
    ``("UID FETCH", "1:3")`` or ``("RETR", "2")``.

    :param int upstream_port: Dovecot's implicit-TLS port (``imaps_port`` or
        ``pop3s_port``)
    :param dict certs: ``ca_path``, ``cert_path``, ``key_path``, e.g.
        ``Dovecot.certs``: the proxy serves that certificate and trusts that
        CA for the upstream, so clients keep trusting the same ``ca_pem``
    :param str protocol: ``imap`` or ``pop3``
    :param refuse_uids: IMAP UIDs whose ``UID FETCH`` is refused
    :param refuse_retr: POP3 message numbers whose ``RETR`` is refused
    :param str refusal: text of the refusal (default :data:`DEFAULT_REFUSALS`)
    :param str host: address of the upstream server; the proxy itself
        always listens on 127.0.0.1 (:attr:`host`)
    """

    host = LOOPBACK

    def __init__(
        self,
        upstream_port,
        certs,
        protocol="imap",
        refuse_uids=(),
        refuse_retr=(),
        refusal=None,
        host=LOOPBACK,
    ):
        if protocol not in DEFAULT_REFUSALS:
            raise ValueError(f"protocol must be 'imap' or 'pop3', not {protocol!r}")
        self.upstream_address = (host, int(upstream_port))
        self.certs = certs
        self.protocol = protocol
        self.refuse_uids = set(refuse_uids)
        self.refuse_retr = set(refuse_retr)
        self.refusal = refusal or DEFAULT_REFUSALS[protocol]
        self.refused = []
        self.port = None  # chosen by start(), kept by a later start()
        self._lock = threading.Lock()
        self._listener = None
        self._contexts = None  # (towards the client, towards Dovecot)
        self._accept_thread = None
        self._stopping = threading.Event()
        self._connections = set()

    # ------------------------------------------------------------ lifecycle

    def start(self):
        """Listen on 127.0.0.1; returns once connections are accepted.

        The kernel picks the port the first time (no race with another
        process, unlike a port picked in advance); a restart reuses it.
        """
        if self._listener is not None:
            return
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.minimum_version = ssl.TLSVersion.TLSv1_2
        server_context.load_cert_chain(self.certs["cert_path"], self.certs["key_path"])
        upstream_context = ssl.create_default_context(cafile=self.certs["ca_path"])
        upstream_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._contexts = (server_context, upstream_context)
        self._listener = socket.create_server((LOOPBACK, self.port or 0))
        # closing a socket does not wake a blocked accept(): poll instead
        self._listener.settimeout(ACCEPT_POLL)
        self.port = self._listener.getsockname()[1]
        self._stopping.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=self._thread_name("accept"), daemon=True
        )
        self._accept_thread.start()

    def stop(self):
        """Close the listener and every connection; join all threads.

        Safe to call twice, or before :meth:`start`.

        :raise RuntimeError: when a thread is still running after
            :data:`JOIN_SECONDS`
        """
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(JOIN_SECONDS)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        # the accept loop has ended: no connection is added after this copy
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.shutdown()
        for connection in connections:
            # the client -> server thread joins its reverse thread itself
            connection.thread.join(JOIN_SECONDS)
        threads = [self._accept_thread] if self._accept_thread else []
        for connection in connections:
            threads += [t for t in (connection.thread, connection.reverse) if t]
        alive = [t.name for t in threads if t.is_alive()]
        self._accept_thread = None
        with self._lock:
            self._connections.difference_update(connections)
        if alive:
            raise RuntimeError(f"fault proxy threads still running: {alive}")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _thread_name(self, role):
        # tests find the proxy's threads by this prefix
        return f"fault-proxy:{self.port}:{role}"

    # ------------------------------------------------------------ relaying

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                sock, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                _logger.debug("fault proxy listener closed", exc_info=True)
                return
            connection = _Connection(sock)
            connection.thread = threading.Thread(
                target=self._serve,
                args=(connection,),
                name=self._thread_name("client"),
                daemon=True,
            )
            with self._lock:
                # ended ones are forgotten here, not by their own thread: a
                # thread is alive for a moment after its last statement, and
                # stop() must join it too
                self._connections = {
                    c for c in self._connections if c.thread.is_alive()
                }
                self._connections.add(connection)
            connection.thread.start()

    def _serve(self, connection):
        """Thread of one connection: handshakes, then client -> server."""
        server_context, upstream_context = self._contexts
        try:
            connection.client_sock.settimeout(CONNECT_SECONDS)
            connection.client = _TlsPipe(
                connection.client_sock, server_context, server_side=True
            )
            connection.client.handshake()
            upstream_sock = socket.create_connection(
                self.upstream_address, timeout=CONNECT_SECONDS
            )
            if not connection.add_socket(upstream_sock):
                return  # stop() came first
            connection.upstream = _TlsPipe(
                upstream_sock, upstream_context, server_side=False
            )
            connection.upstream.handshake()
            # an IMAP session may sit idle for long: no timeout from now on
            connection.client_sock.settimeout(None)
            upstream_sock.settimeout(None)
            connection.reverse = threading.Thread(
                target=self._relay_back,
                args=(connection,),
                name=self._thread_name("server"),
                daemon=True,
            )
            connection.reverse.start()
            self._relay_client(connection)
        except OSError:
            # the client or Dovecot hung up, or stop() shut the sockets
            _logger.debug("fault proxy connection ended", exc_info=True)
        finally:
            connection.shutdown()
            if connection.reverse is not None:
                connection.reverse.join(JOIN_SECONDS)
            connection.close()

    def _relay_back(self, connection):
        """Thread of one connection: server -> client, unparsed."""
        try:
            while data := connection.upstream.recv():
                connection.client.send(data)
        except OSError:
            _logger.debug("fault proxy connection ended", exc_info=True)
        finally:
            # wakes the client -> server thread, which closes the rest
            connection.shutdown()

    def _relay_client(self, connection):
        """Relay client lines until either side closes; refuse what is chosen."""
        reader = _LineReader(connection.client)
        # False after a literal or a partial line: the next line continues a
        # command and must not be taken for a new one (an APPENDed mail may
        # well contain "a1 UID FETCH 2 ...")
        at_command = True
        while line := reader.readline():
            literal = _LITERAL_RE.search(line) if self.protocol == "imap" else None
            reply = self._refusal_for(line) if at_command and not literal else None
            if reply:
                connection.client.send(reply)
                continue
            connection.upstream.send(line)
            at_command = line.endswith(b"\n") and not literal
            if literal:
                for chunk in reader.read_exact(int(literal.group(1))):
                    connection.upstream.send(chunk)

    def _refusal_for(self, line):
        """The proxy's own answer to a client line, or None to relay it."""
        words = line.decode("ascii", "replace").split()
        if self.protocol == "imap":
            if (
                len(words) >= 4
                and words[1].upper() == "UID"
                and words[2].upper() == "FETCH"
                and uid_set_contains(words[3], self.refuse_uids)
            ):
                self._record("UID FETCH", words[3])
                return f"{words[0]} NO {self.refusal}\r\n".encode()
        elif (
            len(words) == 2
            and words[0].upper() == "RETR"
            and words[1].isdigit()
            and int(words[1]) in self.refuse_retr
        ):
            self._record("RETR", words[1])
            return f"-ERR {self.refusal}\r\n".encode()
        return None

    def _record(self, command, detail):
        with self._lock:
            self.refused.append((command, detail))
