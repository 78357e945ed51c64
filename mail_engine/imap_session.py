"""An IMAP session over verified TLS: list folders, find new UIDs, fetch.

Folder names are handled as ``str`` everywhere; the modified UTF-7 of the
wire (RFC 3501 5.1.3) is decoded when listing and encoded when selecting.
Fetching uses ``BODY.PEEK[]`` on a read-only (EXAMINE) selection, so reading
mail never marks it as read on the server.
"""

import base64
import contextlib
import imaplib
import re
import select
import ssl
import time
from dataclasses import dataclass

from .exceptions import AuthError, ConnectError, ProtocolError, TLSError
from .sessions import oauth_responder, translate_errors
from .tls import make_ssl_context

SPECIAL_USE_FLAGS = (
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Important",
    "\\Junk",
    "\\Sent",
    "\\Trash",
)
#: special-use folders left out of the default fetch: unfinished mail,
#: deleted mail, spam, and Gmail's views that repeat mail of other folders
NOT_FETCHED_BY_DEFAULT = frozenset(
    {"\\Drafts", "\\Trash", "\\Junk", "\\All", "\\Flagged", "\\Important"}
)
#: folder names (lower case) that mean a special use when the server sets
#: no flag; looked up on the last level of top-level / INBOX children
WELL_KNOWN_NAMES = {
    "sent": "\\Sent",
    "sent items": "\\Sent",
    "sent mail": "\\Sent",
    "sent messages": "\\Sent",
    "отправленные": "\\Sent",
    "drafts": "\\Drafts",
    "черновики": "\\Drafts",
    "trash": "\\Trash",
    "deleted items": "\\Trash",
    "deleted messages": "\\Trash",
    "bin": "\\Trash",
    "корзина": "\\Trash",
    "удаленные": "\\Trash",
    "удалённые": "\\Trash",
    "junk": "\\Junk",
    "junk e-mail": "\\Junk",
    "junk email": "\\Junk",
    "spam": "\\Junk",
    "bulk mail": "\\Junk",
    "спам": "\\Junk",
}
#: Gmail's aggregate views, recognised by name only below its "[Gmail]"
GMAIL_PARENTS = ("[gmail]", "[google mail]")
GMAIL_NAMES = {
    "all mail": "\\All",
    "вся почта": "\\All",
    "starred": "\\Flagged",
    "помеченные": "\\Flagged",
    "important": "\\Important",
    "важное": "\\Important",
}
#: UIDs per STORE / EXPUNGE command, to keep command lines short
UIDS_PER_COMMAND = 500
#: connections a server may drop on single messages in one :meth:`fetch`
#: before it counts as a failing server rather than a few bad messages
MAX_DROPS_PER_FETCH = 3
#: ``FetchedMessage.error`` of a UID the server answered OK without giving
NOT_RETURNED = "not returned by the server"
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_LIST_RE = re.compile(
    r'^\((?P<flags>[^)]*)\)\s+(?P<delim>NIL|"(?:\\.|[^"\\])*")\s+(?P<name>.*)$',
    re.S | re.I,
)
_UID_RE = re.compile(rb"\bUID\s+(\d+)", re.I)
_FLAGS_RE = re.compile(rb"\bFLAGS\s+\(([^)]*)\)", re.I)
_APPENDUID_RE = re.compile(rb"\[APPENDUID\s+(\d+)\s+(\d+)\]", re.I)
#: COPYUID (RFC 4315) in a tagged answer to COPY, and the data of the
#: untagged ``OK [COPYUID ...]`` a MOVE sends (imaplib keeps its data only)
_COPYUID_TAGGED_RE = re.compile(rb"\[COPYUID\s+(\d+)\s+([\d:,]+)\s+([\d:,]+)\]", re.I)
_COPYUID_DATA_RE = re.compile(rb"^\s*(\d+)\s+([\d:,]+)\s+([\d:,]+)")


@dataclass(frozen=True)
class FolderInfo:
    """One folder as listed by the server (name decoded to ``str``)."""

    name: str
    delimiter: str
    flags: tuple[str, ...]
    special_use: str | None
    selectable: bool


@dataclass(frozen=True)
class FetchedMessage:
    """A fetched message and where it lives on the server.

    ``raw`` is None when the server would not give the message: ``error``
    then holds its answer (a ``NO``, a dropped connection, or
    :data:`NOT_RETURNED`).
    """

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes | None
    flags: tuple[str, ...] = ()
    error: str | None = None


# ------------------------------------------------------------------ names


def decode_folder_name(name):
    """Decode IMAP modified UTF-7 (``&BBoEOwQ4BDUEPQRCBEs-`` -> ``Клиенты``).

    :param str name: the name as sent by the server
    :return: the readable name (returned as is when not valid UTF-7)
    """

    def decode(match):
        chunk = match.group(1)
        if not chunk:
            return "&"
        data = chunk.replace(",", "/")
        data += "=" * (-len(data) % 4)
        return base64.b64decode(data).decode("utf-16-be")

    try:
        return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)
    except ValueError:
        return name


def encode_folder_name(name):
    """Encode a folder name in IMAP modified UTF-7.

    :param str name: the readable name
    :return: the ASCII name to send to the server
    """
    out, pending = [], []

    def flush():
        if pending:
            data = base64.b64encode("".join(pending).encode("utf-16-be"))
            out.append("&" + data.decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(text):
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _mailbox_arg(name):
    """The folder as an IMAP command argument (encoded and quoted)."""
    return _quote(encode_folder_name(name))


def guess_special_use(name, delimiter):
    """The special use a folder's name suggests, when the server sets none.

    :param str name: decoded folder name
    :param str delimiter: hierarchy delimiter ('' when flat)
    :return: a flag such as ``\\Sent``, or None
    """
    parts = name.split(delimiter) if delimiter else [name]
    leaf = parts[-1].strip().lower()
    parent = parts[-2].strip().lower() if len(parts) > 1 else None
    if parent in GMAIL_PARENTS and leaf in GMAIL_NAMES:
        return GMAIL_NAMES[leaf]
    # "Sent", "INBOX.Sent", "[Gmail]/Spam", but not "Clients/Acme/Sent"
    if parent is None or parent == "inbox" or parent in GMAIL_PARENTS:
        return WELL_KNOWN_NAMES.get(leaf)
    return None


def parse_list_response(data):
    """Parse the data of an imaplib LIST answer.

    :param list data: items as returned by ``IMAP4.list()``: bytes lines, or
        ``(line, literal)`` tuples when the server sent a name as a literal
    :return: list of :class:`FolderInfo`
    """
    folders = []
    for item in data:
        literal = None
        if isinstance(item, tuple):
            item, literal = item
        if not item:
            continue  # the empty trailer imaplib appends after a literal
        line = item.decode("utf-8", "replace")
        match = _LIST_RE.match(line)
        if not match:
            continue
        delimiter = match["delim"]
        delimiter = "" if delimiter.upper() == "NIL" else _unquote(delimiter)
        if literal is not None:
            name = literal.decode("utf-8", "replace")
        else:
            name = _unquote(match["name"].strip())
        name = decode_folder_name(name)
        flags = tuple(match["flags"].split())
        lowered = {flag.lower() for flag in flags}
        special = next(
            (f for f in SPECIAL_USE_FLAGS if f.lower() in lowered), None
        ) or guess_special_use(name, delimiter)
        selectable = not lowered & {"\\noselect", "\\nonexistent"}
        folders.append(FolderInfo(name, delimiter, flags, special, selectable))
    return folders


def default_fetch_folders(folders):
    """Names of the folders fetched when the user chose none.

    Every selectable folder but drafts, trash, spam and Gmail's aggregate
    views (All Mail, Starred, Important), recognised by special-use flag or,
    failing that, by well-known name.

    :param list folders: :class:`FolderInfo` of the account
    :return: list of folder names, in the given order
    """
    names = []
    for folder in folders:
        special = folder.special_use or guess_special_use(folder.name, folder.delimiter)
        if folder.selectable and special not in NOT_FETCHED_BY_DEFAULT:
            names.append(folder.name)
    return names


def uid_set(uids):
    """Compress UIDs into an IMAP sequence set (``1:3,7``).

    :param uids: iterable of ints
    :return: the set as a string
    """
    ranges = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def parse_uid_set(text):
    """The UIDs of an IMAP sequence set such as ``1:3,7`` (no ``*``).

    >>> sorted(parse_uid_set("1:3,7"))
    [1, 2, 3, 7]
    """
    return set(uid_sequence(text))


def uid_sequence(text):
    """The UIDs of an IMAP sequence set in the order it gives them (COPYUID
    pairs its two sets by position).

    >>> uid_sequence("5,1:3")
    [5, 1, 2, 3]
    """
    uids = []
    for part in text.split(","):
        part = part.strip()
        if part:
            first, _sep, last = part.partition(":")
            low, high = sorted((int(first), int(last or first)))
            uids.extend(range(low, high + 1))
    return uids


def _copyuid(texts, tagged=False):
    """(UIDVALIDITY, {old uid: new uid}) of COPYUID answers, or (None, {})."""
    pattern = _COPYUID_TAGGED_RE if tagged else _COPYUID_DATA_RE
    validity, mapping = None, {}
    for text in texts:
        found = pattern.search(text) if isinstance(text, bytes) else None
        if not found:
            continue
        old = uid_sequence(found.group(2).decode())
        new = uid_sequence(found.group(3).decode())
        if len(old) == len(new):
            validity = int(found.group(1))
            mapping.update(zip(old, new, strict=True))
    return validity, mapping


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------ session


#: untagged responses during IDLE that say the selected folder changed, or
#: (NOTIFY, RFC 5465) another watched folder: its STATUS
IDLE_CHANGE = re.compile(
    rb"^\* (\d+ (EXISTS|EXPUNGE|RECENT|FETCH)|STATUS |VANISHED )\b", re.IGNORECASE
)
#: how long one wait for the socket lasts inside IDLE (s): the deadline is
#: checked at least this often
IDLE_POLL = 30.0
#: the same when a stop event may end the wait: how soon it is noticed
STOP_POLL = 1.0


class ImapSession:
    """A logged-in IMAP connection. Open with :meth:`open`; use ``with``."""

    def __init__(self, imap, config):
        self._imap = imap
        self.config = config
        self._selected = None  # (folder, readonly, uidvalidity, uidnext)
        self._exists = 0  # messages in the folder at the last SELECT
        self._modseq = None  # its HIGHESTMODSEQ then (CONDSTORE enabled)
        self.sync_mode = None  # "qresync", "condstore" once enabled

    @classmethod
    def open(cls, config):
        """Connect over TLS (implicit or STARTTLS) and log in.

        :param ServerConfig config: the server
        :return: the logged-in :class:`ImapSession`
        :raise TLSError: ``tls_not_offered`` when STARTTLS is missing
        :raise MailEngineError: any other failure (see ``translate_errors``)
        """
        context = make_ssl_context(config.verify, config.ca_pem)
        imap = None
        try:
            with translate_errors(config.server):
                if config.security == "ssl":
                    imap = imaplib.IMAP4_SSL(
                        config.host,
                        config.port,
                        ssl_context=context,
                        timeout=config.timeout,
                    )
                else:
                    imap = imaplib.IMAP4(
                        config.host, config.port, timeout=config.timeout
                    )
                    if "STARTTLS" not in imap.capabilities:
                        raise TLSError(
                            f"STARTTLS not offered ({config.server})",
                            code="tls_not_offered",
                            detail=" ".join(imap.capabilities),
                        )
                    try:
                        imap.starttls(ssl_context=context)
                    except imaplib.IMAP4.abort:
                        raise
                    except imaplib.IMAP4.error as exc:
                        raise TLSError(
                            f"STARTTLS failed ({config.server})", detail=str(exc)
                        ) from exc
            with translate_errors(config.server, login=True):
                if config.sasl_mechanism:
                    _check_mechanism(imap.capabilities, config)
                    respond = oauth_responder(config)
                    imap.authenticate(config.sasl_mechanism, _encoded(respond))
                else:
                    _login(imap, config.login, config.password)
            with translate_errors(config.server):
                # imaplib keeps the pre-login list; UIDPLUS, MOVE... come now
                typ, data = imap.capability()
                if typ == "OK" and data and data[-1]:
                    imap.capabilities = tuple(data[-1].decode().upper().split())
        except BaseException:
            if imap is not None:
                _shutdown(imap)
            raise
        return cls(imap, config)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def capabilities(self):
        """Capabilities the server announced after login (upper case)."""
        return tuple(self._imap.capabilities)

    def close(self):
        """Log out (never CLOSE: it would expunge silently); safe to repeat."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            _shutdown(imap)  # the server is gone or rude: just drop it

    # ------------------------------------------------------------ commands

    def _check(self, typ, data, what):
        if typ != "OK":
            text = b" ".join(d for d in data if isinstance(d, bytes))
            raise ProtocolError(
                f"{what} refused ({self.config.server})",
                detail=text.decode("utf-8", "replace"),
            )

    def list_folders(self):
        """All folders of the account.

        :return: list of :class:`FolderInfo`
        """
        with translate_errors(self.config.server):
            typ, data = self._imap.list()
        self._check(typ, data, "LIST")
        return parse_list_response(data)

    def select(self, folder, readonly=True):
        """Select (or EXAMINE) a folder.

        :param str folder: folder name
        :param bool readonly: EXAMINE: nothing can change flags by accident
        :return: ``(uidvalidity, uidnext)``
        """
        self._selected = None
        with translate_errors(self.config.server):
            typ, data = self._imap.select(_mailbox_arg(folder), readonly)
            self._check(typ, data, f"SELECT {folder}")
            self._exists = int(data[-1]) if data and data[-1] else 0
            uidvalidity = self._response_int("UIDVALIDITY")
            uidnext = self._response_int("UIDNEXT")
            # sent once CONDSTORE is enabled (see :meth:`enable_sync`)
            self._modseq = self._response_int("HIGHESTMODSEQ")
            if uidnext is None:  # optional before IMAP4rev2: ask STATUS
                typ, data = self._imap.status(_mailbox_arg(folder), "(UIDNEXT)")
                self._check(typ, data, "STATUS")
                found = re.search(rb"UIDNEXT\s+(\d+)", b" ".join(data))
                uidnext = int(found.group(1)) if found else 0
        if uidvalidity is None:
            raise ProtocolError(
                f"no UIDVALIDITY for {folder}", detail=self.config.server
            )
        self._selected = (folder, readonly, uidvalidity, uidnext)
        return uidvalidity, uidnext

    # ------------------------------------------------------------ sync

    def enable_sync(self):
        """Ask for the server's change tracking (RFC 7162): QRESYNC (flag
        changes and expunged UIDs since a mod-sequence, one command) where
        offered, else CONDSTORE (flag changes only).

        :return: ``"qresync"``, ``"condstore"`` or None (neither offered)
        """
        caps = self.capabilities
        wanted = next((m for m in ("QRESYNC", "CONDSTORE") if m in caps), None)
        if wanted is None or "ENABLE" not in caps:
            return None
        with translate_errors(self.config.server):
            typ, data = self._imap._simple_command("ENABLE", wanted)
            self._imap._untagged_response(typ, data, "ENABLED")
        self._check(typ, data, "ENABLE")
        self._selected = None  # the next SELECT reports HIGHESTMODSEQ
        self.sync_mode = wanted.lower()
        return self.sync_mode

    @property
    def highest_modseq(self):
        """HIGHESTMODSEQ of the folder last selected (None without CONDSTORE
        or when the server keeps no mod-sequences for it)."""
        return self._modseq

    def changes_since(self, folder, modseq, up_to_uid):
        """Flags changed and messages expunged since ``modseq``.

        :param str folder: folder name
        :param int modseq: the HIGHESTMODSEQ known from an earlier run
        :param int up_to_uid: only UIDs up to this one (what was fetched)
        :return: ``({uid: set of flags}, set of expunged UIDs or None when
            the server cannot tell (CONDSTORE without QRESYNC))``
        """
        self._ensure_selected(folder)
        changed, vanished = {}, None
        if up_to_uid < 1:
            return changed, set()
        modifiers = f"(CHANGEDSINCE {int(modseq)}"
        modifiers += " VANISHED)" if self.sync_mode == "qresync" else ")"
        with translate_errors(self.config.server):
            typ, data = self._imap.uid(
                "FETCH", f"1:{int(up_to_uid)}", "(FLAGS)", modifiers
            )
            earlier = self._imap.untagged_responses.pop("VANISHED", [])
        self._check(typ, data, "FETCH CHANGEDSINCE")
        for item in data or ():
            if isinstance(item, tuple):
                item = item[0]
            if not isinstance(item, bytes):
                continue
            uid = _UID_RE.search(item)
            flags = _FLAGS_RE.search(item)
            if uid and flags:
                changed[int(uid.group(1))] = set(flags.group(1).decode().split())
        if self.sync_mode == "qresync":
            vanished = set()
            for item in earlier:
                text = item.decode() if isinstance(item, bytes) else str(item)
                vanished |= parse_uid_set(text.replace("(EARLIER)", "").strip())
        return changed, vanished

    def search(self, folder, criteria):
        """UIDs matching a UID SEARCH (e.g. ``"UID 1:40 SEEN"``).

        :param str folder: folder name
        :param str criteria: the search keys (ASCII)
        :return: sorted list of UIDs
        """
        self._ensure_selected(folder)
        with translate_errors(self.config.server):
            typ, data = self._imap.uid("SEARCH", criteria)
        self._check(typ, data, "SEARCH")
        return sorted(int(u) for u in b" ".join(d for d in data if d).split())

    def message_count(self):
        """Messages in the folder last selected (its ``EXISTS`` then)."""
        return self._exists

    def _response_int(self, name):
        _typ, data = self._imap.response(name)
        values = [d for d in data or () if d]
        return int(values[-1]) if values else None

    def _ensure_selected(self, folder, readonly=True):
        """Select ``folder`` unless it already is (read-write serves all)."""
        current = self._selected
        if current and current[0] == folder and (readonly or not current[1]):
            return current[2]
        return self.select(folder, readonly)[0]

    def notify(self, folders):
        """Also report new and expunged mail of other folders (NOTIFY,
        RFC 5465) as STATUS responses, seen in IDLE and at the next SELECT
        (:meth:`take_status`).

        :param folders: names of the other folders to watch
        :return: True when the server accepted; False when it has no NOTIFY
            (those folders are then left to the periodic fetch)
        """
        if "NOTIFY" not in self.capabilities or not folders:
            return False
        imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))
        names = " ".join(_mailbox_arg(name) for name in folders)
        spec = (
            "SET (SELECTED (MessageNew MessageExpunge FlagChange)) "
            f"(MAILBOXES ({names}) (MessageNew MessageExpunge))"
        )
        with translate_errors(self.config.server):
            typ, data = self._imap._simple_command("NOTIFY", spec)
        if typ != "OK":
            return False
        self.take_status()
        return True

    def take_status(self):
        """STATUS responses of other folders received outside IDLE (NOTIFY)
        since the last call: a change to fetch."""
        return self._imap.untagged_responses.pop("STATUS", [])

    @property
    def can_idle(self):
        """The server announces IDLE (RFC 2177)."""
        return "IDLE" in self.capabilities

    def idle(self, folder, timeout, stop=None):
        """Wait in IDLE on ``folder`` until the server reports a change
        (new, expunged or re-flagged mail) or ``timeout`` seconds pass, then
        end IDLE. The watcher calls it in a loop, with a timeout well under
        the server's own (Gmail ends IDLE after ~29 minutes).

        :param str folder: the folder to watch (the selection is kept when
            it already is: what changed since that SELECT is reported)
        :param float timeout: seconds to wait at most
        :param stop: a ``threading.Event`` that ends the wait early when
            set (checked every second)
        :return: the changes reported (``b"3 EXISTS"``...); empty on timeout
            or stop
        :raise ProtocolError: the server has no IDLE, refuses it or says BYE
        :raise MailEngineError: the connection failed (reconnect)
        """
        if not self.can_idle:
            raise ProtocolError(
                f"IDLE not offered ({self.config.server})", code="idle_not_offered"
            )
        self._ensure_selected(folder)
        imap = self._imap
        changes = []
        with translate_errors(self.config.server):
            tag = imap._new_tag()
            imap.send(tag + b" IDLE\r\n")
            while True:
                line = self._idle_line(tag)
                if line.startswith(b"+"):
                    break
                self._note_change(line, changes)
            deadline = time.monotonic() + timeout
            poll = IDLE_POLL if stop is None else STOP_POLL
            while not changes and not (stop is not None and stop.is_set()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self._readable(min(left, poll)):
                    self._note_change(self._idle_line(tag), changes)
            imap.send(b"DONE\r\n")
            while True:
                line = self._idle_line(tag)
                if line.startswith(tag):
                    break
                self._note_change(line, changes)
        # the folder's UIDNEXT is no longer the one SELECT gave: select anew
        self._selected = None
        return changes

    def _idle_line(self, tag):
        line = self._imap._get_line()
        if line.startswith(b"* BYE"):
            raise ProtocolError(
                f"the server ended the session ({self.config.server})",
                code="bye",
                detail=line.decode("utf-8", "replace"),
            )
        if line.startswith(tag) and not line[len(tag) :].strip().upper().startswith(
            b"OK"
        ):
            raise ProtocolError(
                f"IDLE refused ({self.config.server})",
                detail=line.decode("utf-8", "replace"),
            )
        return line

    @staticmethod
    def _note_change(line, changes):
        if IDLE_CHANGE.match(line):
            changes.append(line[2:].strip())

    def _readable(self, wait):
        """Whether a line can be read, waiting up to ``wait`` seconds. Data
        may already sit in TLS's or imaplib's buffers, where ``select``
        does not look."""
        imap = self._imap
        sock = imap.sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            buffered = bool(imap.file.peek(1))
        except (ssl.SSLWantReadError, BlockingIOError):
            buffered = False  # nothing read ahead, nothing arrived yet
        finally:
            sock.settimeout(timeout)
        if buffered:
            return True
        readable, _w, _x = select.select([sock], [], [], wait)
        return bool(readable)

    def search_uids(self, folder, above_uid=0, since=None):
        """UIDs of the messages above a checkpoint, optionally since a date.

        :param str folder: folder name
        :param int above_uid: last UID already fetched
        :param datetime.date since: only mail of this day or later
        :return: ``(uidvalidity, sorted list of UIDs > above_uid)``
        """
        uidvalidity = self._ensure_selected(folder)
        criteria = ["UID", f"{above_uid + 1}:*"]
        if since is not None:
            # IMAP dates use English month names whatever the locale
            month = _MONTHS[since.month - 1]
            criteria += ["SINCE", f"{since.day}-{month}-{since.year}"]
        with translate_errors(self.config.server):
            typ, data = self._imap.uid("SEARCH", *criteria)
        self._check(typ, data, "SEARCH")
        found = b" ".join(d for d in data if d).split()
        # "n:*" always matches the highest UID, even when it is <= n
        uids = sorted({int(uid) for uid in found if int(uid) > above_uid})
        return uidvalidity, uids

    def fetch(self, folder, uids, batch_size=20):
        """Fetch whole messages without setting ``\\Seen``, in UID order.

        Streams batch by batch: at most ``batch_size`` messages are in memory.
        Every UID asked for comes back exactly once: as a message, or with
        ``raw=None`` and the reason when the server refuses it (``NO``, as
        Gmail does for "messages that could not be FETCHed"), drops the
        connection on it (Dovecot on a damaged file), or answers without it
        (expunged meanwhile, or a server bug). A batch the server refuses or
        drops is fetched again one UID at a time (reconnecting when needed),
        so one bad message never hides the others.

        :param str folder: folder name
        :param uids: UIDs to fetch
        :param int batch_size: messages per FETCH command
        :return: iterator of :class:`FetchedMessage`
        :raise ConnectError: when the server keeps dropping the connection
            (more than :data:`MAX_DROPS_PER_FETCH` times) or cannot be
            reached again
        """
        uidvalidity = self._ensure_selected(folder)
        drops = [0]
        for batch in _chunks(sorted(set(uids)), max(batch_size, 1)):
            try:
                found, refusal = self._fetch_set(batch)
            except ConnectError as exc:
                # not counted: the single fetches below meet the bad message
                self._reconnect(folder, uidvalidity, exc, drops)
                found, refusal = {}, str(exc.detail or exc)
            if refusal is not None:
                yield from self._fetch_singly(folder, uidvalidity, batch, drops)
                continue
            for uid in batch:
                flags, raw = found.get(uid, ((), None))
                error = NOT_RETURNED if raw is None else None
                yield FetchedMessage(folder, uidvalidity, uid, raw, flags, error)

    def _fetch_set(self, uids):
        """One UID FETCH: ``({uid: (flags, raw)}, None)``, or ``({}, answer)``
        when the server says ``NO``."""
        with translate_errors(self.config.server):
            typ, data = self._imap.uid(
                "FETCH", uid_set(uids), "(UID FLAGS BODY.PEEK[])"
            )
        if typ != "OK":
            text = b" ".join(d for d in data if isinstance(d, bytes))
            return {}, f"{typ} {text.decode('utf-8', 'replace')}".strip()
        wanted = set(uids)
        found = {}
        for uid, flags, raw in _parse_fetch(data):
            if uid in wanted:
                found[uid] = (flags, raw)
        return found, None

    def _fetch_singly(self, folder, uidvalidity, uids, drops):
        """Fetch ``uids`` one by one; a refused one is yielded with its reason."""
        for uid in uids:
            try:
                found, refusal = self._fetch_set([uid])
            except ConnectError as exc:
                drops[0] += 1
                refusal = f"connection dropped: {exc.detail or exc}"
                self._reconnect(folder, uidvalidity, exc, drops)
                found = {}
            flags, raw = found.get(uid, ((), None))
            error = None if raw is not None else (refusal or NOT_RETURNED)
            yield FetchedMessage(folder, uidvalidity, uid, raw, flags, error)

    def _reconnect(self, folder, uidvalidity, cause, drops):
        """Log in again after the server dropped the connection in a FETCH.

        :raise ConnectError: ``cause`` when the drops are too many (the
            server or the network fails, not a message), or the new
            connection's error
        :raise ProtocolError: when the folder was renumbered meanwhile
        """
        if drops[0] > MAX_DROPS_PER_FETCH:
            raise cause
        readonly = self._selected[1] if self._selected else True
        old, self._imap = self._imap, None
        _shutdown(old)
        fresh = type(self).open(self.config)
        self._imap, fresh._imap = fresh._imap, None
        self._selected = None
        if self.sync_mode:
            # the new connection asks for change tracking again
            self.enable_sync()
        if self.select(folder, readonly)[0] != uidvalidity:
            raise ProtocolError(
                f"UIDVALIDITY of {folder} changed during the fetch",
                detail=self.config.server,
            )

    def present_uids(self, folder, uids):
        """Which of ``uids`` are still in the folder (UID SEARCH UID).

        :param str folder: folder name
        :param uids: UIDs to look for
        :return: sorted list of the UIDs found
        """
        uids = sorted(set(uids))
        if not uids:
            return []
        self._ensure_selected(folder)
        found = set()
        for chunk in _chunks(uids, UIDS_PER_COMMAND):
            with translate_errors(self.config.server):
                typ, data = self._imap.uid("SEARCH", "UID", uid_set(chunk))
            self._check(typ, data, "SEARCH")
            found.update(int(u) for u in b" ".join(d for d in data if d).split())
        return sorted(found & set(uids))

    def _store(self, folder, uids, flag, add=True):
        self._ensure_selected(folder, readonly=False)
        command = "+FLAGS.SILENT" if add else "-FLAGS.SILENT"
        for chunk in _chunks(sorted(set(uids)), UIDS_PER_COMMAND):
            with translate_errors(self.config.server):
                typ, data = self._imap.uid(
                    "STORE", uid_set(chunk), command, f"({flag})"
                )
            self._check(typ, data, "STORE")

    def set_flag(self, folder, uids, flag, add=True):
        """Set (or with ``add=False`` remove) a flag on messages.

        :param str folder: folder name
        :param uids: UIDs of the messages
        :param str flag: ``\\Seen``, ``\\Answered``...
        """
        if uids:
            self._store(folder, uids, flag, add=add)

    def mark_seen(self, folder, uids):
        """Set ``\\Seen`` on messages.

        :param str folder: folder name
        :param uids: UIDs of the messages
        """
        if uids:
            self._store(folder, uids, "\\Seen")

    def delete(self, folder, uids):
        """Delete messages: ``\\Deleted``, then expunge.

        With UIDPLUS only these UIDs are expunged; without it a plain EXPUNGE
        also removes whatever another client had marked ``\\Deleted``.

        :param str folder: folder name
        :param uids: UIDs of the messages
        """
        uids = sorted(set(uids))
        if not uids:
            return
        self._store(folder, uids, "\\Deleted")
        with translate_errors(self.config.server):
            if "UIDPLUS" in self._imap.capabilities:
                for chunk in _chunks(uids, UIDS_PER_COMMAND):
                    typ, data = self._imap.uid("EXPUNGE", uid_set(chunk))
                    self._check(typ, data, "UID EXPUNGE")
            else:
                typ, data = self._imap.expunge()
                self._check(typ, data, "EXPUNGE")

    def move(self, folder, uids, target):
        """Move messages to another folder: MOVE (RFC 6851), else COPY and
        delete them here.

        :param str folder: folder name
        :param uids: UIDs of the messages
        :param str target: the folder they go to
        :return: (target UIDVALIDITY, {old UID: new UID}) as far as the
            server tells (UIDPLUS), else (None, {})
        """
        uids = sorted(set(uids))
        if not uids:
            return None, {}
        self._ensure_selected(folder, readonly=False)
        command = "MOVE" if "MOVE" in self._imap.capabilities else "COPY"
        validity, mapping = None, {}
        for chunk in _chunks(uids, UIDS_PER_COMMAND):
            self._imap.untagged_responses.pop("COPYUID", None)
            with translate_errors(self.config.server):
                typ, data = self._imap.uid(
                    command, uid_set(chunk), _mailbox_arg(target)
                )
            self._check(typ, data, f"{command} {target}")
            untagged = self._imap.untagged_responses.pop("COPYUID", [])
            found = _copyuid(untagged)
            if found[0] is None:
                found = _copyuid(data, tagged=True)
            validity = found[0] or validity
            mapping.update(found[1])
        if command == "COPY":
            self.delete(folder, uids)
        return validity, mapping

    def append(self, folder, raw, flags=("\\Seen",)):
        """Store a message in a folder (e.g. a sent mail into Sent).

        :param str folder: folder name
        :param bytes raw: the RFC 5322 message
        :param flags: flags to set, e.g. ``("\\Seen",)``
        :return: the new UID when the server tells it (UIDPLUS), else None
        """
        with translate_errors(self.config.server):
            typ, data = self._imap.append(
                _mailbox_arg(folder), f"({' '.join(flags)})", None, raw
            )
        self._check(typ, data, f"APPEND {folder}")
        found = _APPENDUID_RE.search(b" ".join(d for d in data if d))
        return int(found.group(2)) if found else None


def _encoded(respond):
    """imaplib's callback: bytes, or None to abort (it then sends ``*``)."""

    def callback(challenge):
        answer = respond(challenge)
        return None if answer is None else answer.encode()

    return callback


def _check_mechanism(capabilities, config):
    if f"AUTH={config.sasl_mechanism}" not in capabilities:
        raise AuthError(
            f"the server does not offer {config.sasl_mechanism} ({config.server})",
            code="mechanism_not_offered",
            detail=" ".join(capabilities),
        )


def _login(imap, login, password):
    """LOGIN, or AUTHENTICATE PLAIN in UTF-8 for non-ASCII credentials."""
    if (login + password).isascii():
        # imaplib quotes the password itself, not the login
        imap.login(_quote(login), password)
        return
    # imaplib sends LOGIN arguments as ASCII only
    secret = f"\0{login}\0{password}".encode()
    imap.authenticate("PLAIN", lambda _challenge: secret)


def _shutdown(imap):
    # an already closed (or never upgraded) socket has nothing left to release
    with contextlib.suppress(OSError):
        imap.shutdown()


def _parse_fetch(data):
    """``(uid, flags, raw)`` of each message in the data of a UID FETCH.

    imaplib gives ``(b'1 (UID 5 FLAGS (\\Seen) BODY[] {42}', raw)`` tuples,
    followed by the rest of the line (``b')'`` or ``b' FLAGS (...))'``);
    untagged FETCH lines without a body (flag updates) are skipped.
    """
    items = list(data)
    for index, item in enumerate(items):
        if not isinstance(item, tuple):
            continue
        meta, raw = item
        following = items[index + 1] if index + 1 < len(items) else b""
        if isinstance(following, bytes):
            meta += b" " + following  # FLAGS may come after the body
        uid = _UID_RE.search(meta)
        if not uid:
            continue
        flags = _FLAGS_RE.search(meta)
        flags = tuple(flags.group(1).decode().split()) if flags else ()
        yield int(uid.group(1)), flags, raw
