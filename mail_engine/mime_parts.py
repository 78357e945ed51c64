"""Helpers for one MIME part: parameters, file names, transfer encodings.

Used by :mod:`.mime`. Everything works on the raw header values kept by the
stdlib ``compat32`` parser (``str`` with surrogate-escaped 8-bit bytes), so
that broken or 8-bit headers never turn into ``email.header.Header``
objects or exceptions.
"""

import binascii
import re
from urllib.parse import unquote_to_bytes

from .charsets import decode_b64_lenient, decode_bytes, decode_header_value

_PARAM_RE = re.compile(r'([^\s=;]+)\s*=\s*("(?:\\.|[^"\\])*"?|[^;]*)', re.DOTALL)
_EXTENDED_RE = re.compile(r"([^*]+)\*(\d+)?(\*?)")
_UNESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_CTYPE_RE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_UU = {"x-uuencode", "uuencode", "uue", "x-uue"}
_PLAIN = {"", "7bit", "8bit", "binary"}
#: extensions for generated file names; a fixed table, because mimetypes
#: answers differ between platforms
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/ics": ".ics",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "image/tiff": ".tif",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/rfc822-headers": ".txt",
}


def header_map(part):
    """Return the first raw value of each header of ``part``, by lower name.

    :param email.message.Message part: a parsed part
    :return: ``{lowercased name: raw value}``
    """
    found = {}
    for name, value in part.raw_items():
        found.setdefault(name.lower(), value)
    return found


def split_params(value):
    """Split a structured header into its value and decoded parameters.

    Understands quoted values, RFC 2231 extended and continued parameters
    (``filename*0*=utf-8''%D0%9F; filename*1*=...``), RFC 2047 encoded
    words inside parameter values (Outlook, Thunderbird) and raw 8-bit
    bytes. Extended parameters win over plain ones of the same name.

    :param str value: raw header value, e.g. ``attachment; filename="a.pdf"``
    :return: ``(lowercased main value, {lowercased name: decoded text})``
    """
    main, _sep, rest = (value or "").partition(";")
    plain, extended = {}, {}
    for match in _PARAM_RE.finditer(rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"'):
            raw = _UNESCAPE_RE.sub(r"\1", raw[1:-1] if raw.endswith('"') else raw[1:])
        ext = _EXTENDED_RE.fullmatch(key)
        if ext:
            index = int(ext.group(2) or 0)
            encoded = bool(ext.group(3)) or ext.group(2) is None
            extended.setdefault(ext.group(1), {}).setdefault(index, (encoded, raw))
        else:
            plain.setdefault(key, raw)
    params = {key: decode_header_value(raw) for key, raw in plain.items()}
    for key, segments in extended.items():
        params[key] = _join_rfc2231(segments)
    return main.strip().strip('"').lower(), params


def _join_rfc2231(segments):
    """Decode the ordered segments of one RFC 2231 parameter."""
    charset = None
    data = b""
    first = min(segments)
    for index in sorted(segments):
        encoded, raw = segments[index]
        if encoded and index == first and raw.count("'") >= 2:
            charset, _lang, raw = raw.split("'", 2)
        if encoded:
            data += unquote_to_bytes(raw.encode("utf-8", "surrogateescape"))
        else:
            data += raw.encode("utf-8", "surrogateescape")
    text = decode_bytes(data, charset or None)[0]
    # some mailers put RFC 2047 words inside RFC 2231 values
    return decode_header_value(text)


def content_type(part, headers):
    """Return the content type and parameters of a part.

    An invalid type falls back to the part's default (``text/plain``, or
    ``message/rfc822`` inside ``multipart/digest``), as RFC 2045 says.

    :param email.message.Message part: the part
    :param dict headers: its :func:`header_map`
    :return: ``(type, params)``
    """
    ctype, params = split_params(headers.get("content-type"))
    if not _CTYPE_RE.fullmatch(ctype):
        ctype = part.get_default_type()
    return ctype, params


def filename_of(ctype_params, disp_params):
    """Return the sanitized file name of a part, or None.

    :param dict ctype_params: parameters of Content-Type (``name``)
    :param dict disp_params: parameters of Content-Disposition (``filename``)
    """
    return sanitize_filename(disp_params.get("filename") or ctype_params.get("name"))


def sanitize_filename(name):
    """Make a file name safe to store: no path, no control characters.

    :param str name: the name announced by the mail
    :return: the cleaned name, or None if nothing usable is left
    """
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c >= " " and c != "\x7f").strip()
    if name.strip(".") == "":
        return None
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = stem[:190] + dot + ext[:9] if dot and len(ext) < 10 else name[:200]
    return name


def default_filename(ctype, counter):
    """Invent a file name for an unnamed part: ``image-1.png``.

    :param str ctype: the part's content type
    :param int counter: running number of unnamed parts in the message
    """
    prefix = "image" if ctype.startswith("image/") else "attachment"
    return f"{prefix}-{counter}{_EXTENSIONS.get(ctype, '.bin')}"


def content_id(value):
    """Return a Content-ID without angle brackets and whitespace, or None."""
    if not value:
        return None
    cid = "".join(value.split()).strip("<>")
    return cid or None


def payload_bytes(part, transfer_encoding, defects):
    """Return the decoded body bytes of a leaf part.

    :param email.message.Message part: a non-multipart part
    :param str transfer_encoding: raw Content-Transfer-Encoding, or None
    :param list defects: receives defect strings for broken encodings
    :return: the decoded bytes (best effort, never raises)
    """
    # not get_payload(): it decodes 8-bit bodies with the declared charset
    # (replacing errors) before we could choose one
    payload = part._payload
    if not isinstance(payload, str):
        return b""
    # compat32 keeps undecodable bytes as surrogates: this restores them
    data = payload.encode("utf-8", "surrogateescape")
    cte = (transfer_encoding or "").strip().strip('"').lower()
    if cte == "base64":
        data, clean = decode_b64_lenient(data)
        if not clean:
            defects.append("invalid_base64")
    elif cte == "quoted-printable":
        data = binascii.a2b_qp(data)
    elif cte in _UU:
        data = _decode_uu(data, defects)
    elif cte not in _PLAIN:
        defects.append(f"unknown_transfer_encoding: {cte[:40]}")
    return data


def _decode_uu(data, defects):
    """Decode a uuencoded body, skipping bad lines (``uu`` left the stdlib)."""
    lines = iter(data.splitlines())
    for line in lines:
        if line.startswith(b"begin "):
            break
    else:
        defects.append("invalid_uuencode")
        return data
    out = []
    for line in lines:
        if line.strip() == b"end":
            break
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            # trailing garbage some encoders add: cut the line to its length
            nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3 if line else 0
            try:
                out.append(binascii.a2b_uu(line[:nbytes]))
            except binascii.Error:
                defects.append("invalid_uuencode")
    return b"".join(out)
