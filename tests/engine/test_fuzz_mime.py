"""Structure-aware fuzzing of ``mime.parse``: hostile MIME trees.

Hypothesis builds messages from their parts (headers, charsets, transfer
encodings, boundaries, nesting) and breaks them in the ways real mailers
and attackers do. The contract: ``parse`` returns a :class:`ParsedMessage`
of well-typed fields or raises :class:`ParseError`, never anything else.
"""

import base64
import quopri

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail_engine.exceptions import ParseError
from mail_engine.mime import ParsedMessage, parse

CHARSETS = [
    "utf-8",
    "cp1251",
    "koi8-r",
    "iso-8859-1",
    "utf-16",
    "utf-7",
    "gb2312",
    "x-unknown",
    "",
    '"utf-8',
    "utf-8\x00",
]
ENCODINGS = [
    "7bit",
    "8bit",
    "binary",
    "base64",
    "quoted-printable",
    "x-uuencode",
    "b64",
]
HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "X-Evil",
]
texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60
)
boundaries = st.one_of(
    st.sampled_from(["b1", "", " ", "--", "a" * 80, '"q"', "b1\r\nX: y", "=_x"]),
    st.text(alphabet="abc-_=+/ '\"", min_size=0, max_size=12),
)


def _encode(body, charset, encoding):
    try:
        data = body.encode(charset.strip('"\x00') or "ascii", "replace")
    except LookupError:
        data = body.encode("utf-8")
    if encoding == "base64":
        return base64.b64encode(data)
    if encoding == "quoted-printable":
        return quopri.encodestring(data)
    return data


@st.composite
def header_value(draw):
    value = draw(texts)
    trick = draw(
        st.sampled_from(["plain", "encoded", "badword", "huge", "nul", "crlf"])
    )
    if trick == "encoded":
        charset = draw(st.sampled_from(CHARSETS))
        payload = base64.b64encode(value.encode("utf-8")).decode()
        value = f"=?{charset}?B?{payload}?="
    elif trick == "badword":
        value = draw(st.sampled_from(["=?utf-8?B?%%%?=", "=?x?Q?=ZZ?=", "=?", "?="]))
    elif trick == "huge":
        value = value + "x" * draw(st.integers(1000, 20000))
    elif trick == "nul":
        value = value + "\x00" + value
    elif trick == "crlf":
        value = value + "\r\n Bcc: victim@example.com"
    return value


@st.composite
def part(draw, depth=0):
    """One MIME part as bytes (head + body), maybe a nested multipart."""
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    kind = draw(
        st.sampled_from(
            [
                "text/plain",
                "text/html",
                "application/pdf",
                "image/png",
                "message/rfc822",
            ]
            + (["multipart/mixed", "multipart/alternative"] if depth < 4 else [])
        )
    )
    head = [f"Content-Type: {kind}; charset={charset}"]
    if draw(st.booleans()):
        name = draw(st.sampled_from(["a.pdf", "<img src=x onerror=alert(1)>.pdf", ""]))
        head.append(f'Content-Disposition: attachment; filename="{name}"')
    if kind.startswith("multipart/"):
        boundary = draw(boundaries)
        head[0] = f'Content-Type: {kind}; boundary="{boundary}"'
        children = draw(st.lists(part(depth=depth + 1), max_size=3))
        body = b"".join(
            b"--" + boundary.encode() + b"\r\n" + c + b"\r\n" for c in children
        )
        if draw(st.booleans()):  # the closing boundary is often missing
            body += b"--" + boundary.encode() + b"--\r\n"
        return "\r\n".join(head).encode() + b"\r\n\r\n" + body
    head.append(f"Content-Transfer-Encoding: {encoding}")
    body = _encode(draw(texts), charset, encoding)
    damage = draw(st.sampled_from(["none", "b64junk", "truncate", "nul", "8bit"]))
    if damage == "b64junk":
        body = body[: len(body) // 2] + b"!!==@@" + body[len(body) // 2 :]
    elif damage == "truncate":
        body = body[: max(0, len(body) - 3)]
    elif damage == "nul":
        body = body.replace(b"a", b"\x00")
    elif damage == "8bit":
        body += bytes(range(128, 256))
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


@st.composite
def message(draw):
    headers = draw(
        st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value()), max_size=12)
    )
    if draw(st.booleans()):
        headers.insert(0, ("From", "Evil <evil@example.com>"))
    head = "\r\n".join(f"{name}: {value}" for name, value in headers)
    raw = head.encode("utf-8", "surrogatepass") + b"\r\n" + draw(part())
    if draw(st.booleans()):
        raw = raw.replace(b"\r\n", b"\n")
    return raw


def _check(raw):
    try:
        parsed = parse(raw, max_attachment_bytes=50_000)
    except ParseError:
        return
    assert isinstance(parsed, ParsedMessage)
    assert isinstance(parsed.subject, str)
    assert isinstance(parsed.from_name, str)
    assert isinstance(parsed.body_html, str)
    assert isinstance(parsed.body_text, str)
    assert parsed.email_from is None or isinstance(parsed.email_from, str)
    for name, address in parsed.to + parsed.cc + parsed.bcc:
        assert isinstance(name, str) and isinstance(address, str)
    for attachment in parsed.attachments:
        assert isinstance(attachment.filename, str)
        assert "/" not in attachment.filename and "\x00" not in attachment.filename
        assert attachment.data is None or isinstance(attachment.data, bytes)
        if attachment.data is not None:
            assert len(attachment.data) <= 50_000


@given(message())
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_structured_fuzz(raw):
    _check(raw)


@given(message(), st.integers(0, 5000), st.binary(max_size=64))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_spliced_bytes(raw, position, junk):
    """Random bytes spliced anywhere into a structured message."""
    position = min(position, len(raw))
    _check(raw[:position] + junk + raw[position:])
