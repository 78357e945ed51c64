"""MIME parsing: raw message bytes in, a :class:`ParsedMessage` out.

Parsing uses the stdlib ``compat32`` policy, several times faster than
``policy.default``, and does all header decoding here (:mod:`.charsets`),
which also copes better with real-world breakage. The bytes are fed to the
parser in slices: ``parsebytes`` would first copy the whole mail into one
string and then split it, about 8 times the mail's size at the peak.

:func:`parse` raises :class:`~.exceptions.ParseError` only when the bytes
are not a mail at all; anything else parses, with problems listed in
``ParsedMessage.defects``.
"""

import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.feedparser import BytesFeedParser
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from email.utils import parsedate_to_datetime

from .addresses import format_address_list, parse_address_list
from .charsets import decode_bytes, decode_header_value, lookup_charset
from .exceptions import ParseError
from .mime_html import html_to_text, replace_cids, text_to_html
from .mime_parts import (
    content_id,
    content_type,
    default_filename,
    filename_of,
    header_map,
    payload_bytes,
    sanitize_filename,
    split_params,
)

__all__ = [
    "Attachment",
    "ParsedMessage",
    "html_to_text",
    "parse",
    "replace_cids",
    "text_to_html",
]

#: a header section needs one of these to be a mail (see :func:`parse`)
_MAIL_HEADERS = frozenset(
    "from sender to cc bcc subject date message-id in-reply-to references "
    "received return-path mime-version".split()
)
#: deeper MIME nesting is hostile, not mail: its parts are ignored
_MAX_DEPTH = 30
#: the longest Message-ID kept: RFC 5322's line length
MAX_ID_LENGTH = 998
#: bytes fed to the parser at a time
_FEED_SLICE = 256 * 1024
_LEADING_BLANK_RE = re.compile(rb"[\r\n]*")
_MSGID_RE = re.compile(r"<[^<>]+>")
_CAMEL_RE = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(slots=True)
class Attachment:
    """A file carried by a message (including inline ``cid:`` images).

    ``data`` is None when the file was not kept: ``skipped_reason`` is then
    ``'too_large'`` (over the size cap) or ``'disabled'`` (attachments off).
    ``content_id`` has no angle brackets, as used in ``cid:`` URLs.
    """

    filename: str
    content_type: str
    data: bytes | None
    size: int
    content_id: str | None = None
    inline: bool = False
    skipped_reason: str | None = None


@dataclass(slots=True)
class ParsedMessage:
    """A parsed mail; all text decoded, addresses normalized.

    ``date`` is naive UTC. ``to``/``cc``/``bcc`` hold ``(name, address)``
    pairs. ``headers`` holds every top-level header, decoded, in order.
    ``defects`` lists problems as ``"code"`` or ``"code: detail"`` strings
    (e.g. ``missing_date``, ``charset_fallback: utf-8 -> cp1251``, and the
    stdlib parser's defects in snake case, e.g. ``start_boundary_not_found``).
    """

    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    date: datetime | None = None
    email_from: str | None = None
    from_name: str = ""
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    bcc: list[tuple[str, str]] = field(default_factory=list)
    reply_to: str = ""
    subject: str = ""
    body_html: str = ""
    body_text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    size: int = 0
    defects: list[str] = field(default_factory=list)
    #: ``body_html`` is plain text made HTML by :func:`text_to_html` (every
    #: character of the text escaped): no HTML part was received
    html_from_text: bool = False

    @property
    def email_to(self):
        return format_address_list(self.to)

    @property
    def email_cc(self):
        return format_address_list(self.cc)

    @property
    def email_bcc(self):
        return format_address_list(self.bcc)

    def header(self, name):
        """Return the first decoded value of header ``name`` (any case)."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def headers_all(self, name):
        """Return all decoded values of header ``name`` (any case), in order."""
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


def parse(raw, *, save_attachments=True, max_attachment_bytes=None):
    """Parse the raw bytes of one mail.

    The bytes are a mail when, after leading blank lines, their header
    section holds at least one header that every mail has one of (From,
    Sender, To, Cc, Bcc, Subject, Date, Message-ID, In-Reply-To,
    References, Received, Return-Path, MIME-Version). Anything else (empty
    input, random bytes, a bare body) raises :class:`ParseError`, as does
    any unexpected failure, so that the caller can quarantine the raw bytes.

    :param bytes raw: the message as fetched (RFC 822 bytes)
    :param bool save_attachments: keep attachment bytes; when False every
        attachment is listed with ``data=None`` and reason ``'disabled'``
    :param int max_attachment_bytes: attachments larger than this (decoded)
        are listed with ``data=None`` and reason ``'too_large'``
    :return: the :class:`ParsedMessage`
    :raise ParseError: codes ``empty``, ``not_a_mail`` or ``parse``
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ParseError("message must be bytes", code="parse", detail=type(raw))
    raw = bytes(raw)
    if not raw.strip():
        raise ParseError("empty message", code="empty")
    try:
        msg = _parse_bytes(raw)
        if not any(name.lower() in _MAIL_HEADERS for name in msg.keys()):
            raise ParseError("no mail header found", code="not_a_mail")
        parsed = _Builder(save_attachments, max_attachment_bytes).build(msg)
    except ParseError:
        raise
    except Exception as exc:  # any bug or oddity: the caller quarantines
        raise ParseError("message cannot be parsed", detail=repr(exc)) from exc
    parsed.size = len(raw)
    return parsed


def _parse_bytes(raw):
    """Parse with compat32, feeding slices (see the module docstring)."""
    parser = BytesFeedParser(policy=compat32)
    view = memoryview(raw)
    for start in range(_LEADING_BLANK_RE.match(raw).end(), len(raw), _FEED_SLICE):
        parser.feed(bytes(view[start : start + _FEED_SLICE]))
    return parser.close()


class _Builder:
    """Walks the MIME tree once, collecting bodies and attachments."""

    def __init__(self, save_attachments, max_attachment_bytes):
        self.save = save_attachments
        self.cap = max_attachment_bytes
        self.bodies = []  # (html, text or None: derive from html)
        self.received_html = False
        self.attachments = []
        self.defects = []
        self.unnamed = 0

    def build(self, msg):
        first = header_map(msg)
        result = ParsedMessage(
            headers=[(k, decode_header_value(v)) for k, v in msg.raw_items()],
            subject=decode_header_value(first.get("subject")),
            message_id=_message_id(first.get("message-id")),
            in_reply_to=_message_id(first.get("in-reply-to")),
            references=_message_ids(first.get("references")),
            date=self._date(first.get("date")),
            reply_to=format_address_list(parse_address_list(first.get("reply-to"))),
        )
        for name in ("to", "cc", "bcc"):
            values = [v for k, v in msg.raw_items() if k.lower() == name]
            setattr(result, name, parse_address_list(", ".join(values)))
        sender = first.get("from") or first.get("sender")
        senders = parse_address_list(sender)
        if senders:
            result.from_name, result.email_from = senders[0]
        else:
            result.from_name = decode_header_value(sender)
            self.defects.append("invalid_from" if sender else "missing_from")
        self._walk(msg, 0)
        result.body_html = "\n".join(h for h, _t in self.bodies if h)
        result.html_from_text = not self.received_html
        result.body_text = "\n\n".join(
            t if t is not None else html_to_text(h) for h, t in self.bodies
        )
        result.attachments = self.attachments
        result.defects = list(dict.fromkeys(self.defects))
        return result

    def _date(self, value):
        if not value:
            self.defects.append("missing_date")
            return None
        try:
            date = parsedate_to_datetime(" ".join(value.split()))
            if date.tzinfo is not None:  # naive means -0000: UTC, zone unknown
                date = date.astimezone(timezone.utc).replace(tzinfo=None)
        except (TypeError, ValueError, IndexError, OverflowError):
            self.defects.append("invalid_date")
            return None
        return date

    def _walk(self, part, depth, as_attachment=False):
        """Dispatch one part; ``as_attachment`` forces it out of the body."""
        self.defects.extend(_defect_name(d) for d in part.defects)
        if depth > _MAX_DEPTH:
            self.defects.append("nesting_too_deep")
            return
        headers = header_map(part)
        ctype, params = content_type(part, headers)
        if part.is_multipart():
            children = [p for p in part.get_payload() if isinstance(p, Message)]
            if ctype.startswith("message/"):
                self._attach_message(headers, ctype, children)
            elif ctype == "multipart/alternative" and not as_attachment:
                self._alternative(children, depth)
            else:
                for index, child in enumerate(children):
                    # multipart/report: the first part is for humans, the
                    # others (delivery status, returned headers) are files
                    forced = as_attachment or (
                        ctype == "multipart/report" and index > 0
                    )
                    self._walk(child, depth + 1, forced)
            return
        if ctype.startswith("multipart/"):
            self.defects.append("multipart_without_parts")
            ctype, params = "text/plain", {}
        disposition, disp_params = split_params(headers.get("content-disposition"))
        name = filename_of(params, disp_params)
        is_body = ctype in ("text/plain", "text/html") and not as_attachment
        if is_body and not name and disposition != "attachment":
            text = self._text(part, headers, params)
            if ctype == "text/html":
                self.bodies.append((text, None))
                self.received_html = True
            else:
                self.bodies.append((text_to_html(text), text))
            return
        cte = headers.get("content-transfer-encoding")
        data = payload_bytes(part, cte, self.defects)
        self._add_attachment(name, ctype, data, headers, disposition)

    def _alternative(self, children, depth):
        """Keep the richest alternative as body and the plain text beside it."""
        html_child = next((c for c in reversed(children) if _has_html(c, 0)), None)
        text_child = next(
            (c for c in reversed(children) if _leaf_type(c) == "text/plain"), None
        )
        chosen = html_child or text_child or (children[-1] if children else None)
        for child in children:
            if child is chosen or child is text_child:
                continue
            if _leaf_type(child) == "text/calendar":  # invitations are files
                self._walk(child, depth + 1, as_attachment=True)
        if chosen is None:
            return
        start = len(self.bodies)
        self._walk(chosen, depth + 1)
        if html_child is None or text_child is None:
            return
        text = self._text(text_child, header_map(text_child), None)
        html = "\n".join(h for h, _t in self.bodies[start:] if h)
        self.bodies[start:] = [(html or text_to_html(text), text)]

    def _text(self, part, headers, params):
        """Decode a text part with its declared charset (or a detected one)."""
        if params is None:
            params = content_type(part, headers)[1]
        data = payload_bytes(
            part, headers.get("content-transfer-encoding"), self.defects
        )
        declared = params.get("charset")
        text, used = decode_bytes(data, declared)
        if declared and used not in ("ascii", lookup_charset(declared)):
            self.defects.append(f"charset_fallback: {declared[:40]} -> {used}")
        return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")

    def _attach_message(self, headers, ctype, payload):
        """Keep an attached message (or a delivery report) as a file."""
        chunks = [_flatten(sub) for sub in payload]
        if ctype == "message/delivery-status":
            name = "delivery-status.txt"
        else:
            first = header_map(payload[0]) if payload else {}
            subject = decode_header_value(first.get("subject"))
            # a subject is no path: "1/2" must not lose its "1"
            name = sanitize_filename(subject.replace("/", "_").replace("\\", "_"))
            name = name or "message"
            if not name.lower().endswith(".eml"):
                name += ".eml"
        disposition = split_params(headers.get("content-disposition"))[0]
        self._add_attachment(name, ctype, b"\n".join(chunks), headers, disposition)

    def _add_attachment(self, name, ctype, data, headers, disposition):
        cid = content_id(headers.get("content-id"))
        if not name:
            self.unnamed += 1
            name = default_filename(ctype, self.unnamed)
        reason = None
        if not self.save:
            reason = "disabled"
        elif self.cap is not None and len(data) > self.cap:
            reason = "too_large"
        inline = disposition == "inline" or (not disposition and cid is not None)
        self.attachments.append(
            Attachment(
                filename=name,
                content_type=ctype,
                data=None if reason else data,
                size=len(data),
                content_id=cid,
                inline=inline,
                skipped_reason=reason,
            )
        )


def _leaf_type(part):
    return content_type(part, header_map(part))[0]


def _has_html(part, depth):
    """Tell whether an alternative holds an HTML body (maybe in related)."""
    if part.is_multipart():
        if depth > _MAX_DEPTH or _leaf_type(part).startswith("message/"):
            return False
        children = part.get_payload()
        return any(_has_html(p, depth + 1) for p in children if isinstance(p, Message))
    return _leaf_type(part) == "text/html"


def _flatten(msg):
    """Serialize a parsed sub-message back to bytes, as received."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0).flatten(msg)
    return buffer.getvalue()


def _defect_name(defect):
    """``StartBoundaryNotFoundDefect`` -> ``start_boundary_not_found``."""
    name = type(defect).__name__.removesuffix("Defect")
    return _CAMEL_RE.sub("_", name).lower()


def _message_id(value):
    """Return the first ``<id>`` of a header, whitespace removed."""
    ids = _message_ids(value)
    return ids[0] if ids else None


def _message_ids(value):
    """Return all ``<id>`` of a header in order, unfolded, without repeats.

    When the header holds no bracketed id at all (broken mailers), words
    with an ``@`` are taken as ids and given the brackets replies will use.
    An id longer than a mail's line may be (:data:`MAX_ID_LENGTH`) is no
    id: no mailer makes one, and a database could not index it.
    """
    if not value:
        return []
    ids = ["".join(i.split()) for i in _MSGID_RE.findall(value)]
    if not ids:
        ids = [f"<{word.strip('<>')}>" for word in value.split() if "@" in word]
    return list(
        dict.fromkeys(i for i in ids if i.isascii() and 2 < len(i) <= MAX_ID_LENGTH)
    )
