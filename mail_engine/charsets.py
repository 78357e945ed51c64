"""Turning the bytes of real-world mail into text.

Mail in the wild declares charsets under many spellings, declares the wrong
one, or none at all (raw 8-bit headers, ``unknown-8bit``). Russian mail adds
two legacy 8-bit encodings, cp1251 and koi8-r, which both decode any byte
sequence without error, so a strict decode cannot tell them apart: a small
letter-frequency heuristic does.

Nothing here raises on bad input: the worst outcome is text with U+FFFD.
"""

import base64
import binascii
import codecs
import functools
import math
import re

#: charset spellings seen in mail that Python does not know, or knows as
#: something narrower than what mailers actually send
_ALIASES = {
    "utf8": "utf-8",
    "x-utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "koi8r": "koi8-r",
    "x-koi8-r": "koi8-r",
    "koi8u": "koi8-u",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    # gb18030 is a superset of gb2312 and gbk; mailers label gbk text gb2312
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-ukrainian": "mac-cyrillic",
    "x-sjis": "shift_jis",
    "tis-620": "cp874",
}
#: labels that say "some 8-bit charset, nobody knows which": detect instead
_UNKNOWN = {
    "unknown-8bit",
    "x-unknown",
    "unknown",
    "x-user-defined",
    "default",
    "8bit",
    "charset",
}
#: 7-bit labels: trusted only while the data really is 7-bit
_ASCII = {"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "646", "us"}
#: codecs that are valid Python text encodings but never a mail charset;
#: a hostile declaration must not pick them
_REFUSED = {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}
_WINDOWS_RE = re.compile(r"^(?:x-)?(?:windows|win|cp|ms)[-_]?(\d{3,4})$")

# Relative frequency (%) of Russian letters, used by the cp1251/koi8-r vote.
_RU_FREQ = dict(
    zip(
        "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
        (10.97, 8.45, 8.01, 7.35, 6.70, 6.26, 5.47, 4.73, 4.54, 4.40, 3.49)
        + (3.21, 2.98, 2.81, 2.62, 2.01, 1.90, 1.74, 1.70, 1.65, 1.59, 1.44)
        + (1.21, 0.97, 0.94, 0.73, 0.64, 0.48, 0.36, 0.32, 0.26, 0.04, 0.04),
        strict=True,
    )
)
_RU_LOG = {letter: math.log(pct / 100) for letter, pct in _RU_FREQ.items()}
#: non-letters above 0x7f that occur in Russian text
_RU_PUNCT = frozenset("«»—–“”„…№\xa0°")
_WORD_RE = re.compile(r"[^\W\d_]+")
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS_RE = re.compile(r"\s*")
_QP_HEX_RE = re.compile(rb"=([0-9A-Fa-f]{2})")
_B64_JUNK_RE = re.compile(rb"[^A-Za-z0-9+/]")
_B64_CHAR_RE = re.compile(rb"[A-Za-z0-9+/]")
_WS_RE = re.compile(r"\s+")


@functools.lru_cache(maxsize=256)
def lookup_charset(name):
    """Map a declared charset label to a Python codec name.

    :param str name: the label as found in a header, e.g. ``"win-1251"``
    :return: the codec name (``"cp1251"``, ``"koi8-r"``, ``"utf-8"``...),
        ``"ascii"`` for 7-bit labels, or None when the label is missing,
        unknown or means "unknown 8-bit" (the caller must detect)
    """
    if not name:
        return None
    label = name.strip().strip("\"'").strip().lower()
    # RFC 2231 allows a language suffix: utf-8*ru
    label = label.split("*", 1)[0]
    if not label or label in _UNKNOWN:
        return None
    if label in _ASCII:
        return "ascii"
    label = _ALIASES.get(label, label)
    match = _WINDOWS_RE.match(label)
    if match:
        label = "cp" + match.group(1)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    # codecs.lookup also knows bytes-to-bytes codecs (base64, zlib...)
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return info.name


def _russian_score(text):
    """Log-likelihood-like score of ``text`` being Russian.

    Letter frequencies reward the right decoding. Case shape matters too:
    cp1251 and koi8-r swap the case of the letter ranges, so the wrong
    decoding of normal text has capitals inside words ("пРИВЕТ").
    """
    score = 0.0
    for char in text:
        if char < "\x80":
            continue
        lower = char.lower()
        if lower in _RU_LOG:
            score += _RU_LOG[lower]
        elif "\u2500" <= char <= "\u259f":
            score -= 10  # box drawing: koi8-r read from cp1251 bytes
        elif char not in _RU_PUNCT:
            score -= 6
    for word in _WORD_RE.findall(text):
        if word.isascii() or word.islower():
            continue
        if word.isupper():
            score -= 1.0 if len(word) > 1 else 0.0
        elif word[0].isupper() and word[1:].islower():
            score -= 0.3
        else:
            humps = sum(
                a.islower() and b.isupper()
                for a, b in zip(word, word[1:], strict=False)
            )
            score -= 1 + 4 * humps
    return score


def _looks_russian(text):
    """Tell whether a candidate decoding is Cyrillic text at all.

    Western 8-bit text (``café`` in latin-1) also decodes as "Cyrillic", but
    then its Cyrillic letters sit inside Latin words.
    """
    high = [c for c in text if c >= "\x80"]
    good = sum(c.lower() in _RU_LOG or c in _RU_PUNCT for c in high)
    if not high or good / len(high) < 0.6:
        return False
    words = [w for w in _WORD_RE.findall(text) if not w.isascii()]
    mixed = sum(any(c.isascii() for c in w) for w in words)
    return mixed * 2 <= len(words)


def detect_cyrillic(data):
    """Guess whether 8-bit ``data`` is cp1251 or koi8-r text.

    A cheap, deterministic vote: each decoding is scored by Russian letter
    frequencies and by the case shape of its words; cp1251 gets a small
    head start as by far the more common of the two today.

    :param bytes data: the raw bytes
    :return: ``(text, codec)`` or None when neither looks like Russian
    """
    best = None
    for codec, prior in (("cp1251", 1.0), ("koi8-r", 0.0)):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        score = _russian_score(text) + prior
        if best is None or score > best[0]:
            best = (score, text, codec)
    if best is None or not _looks_russian(best[1]):
        return None
    return best[1], best[2]


def _b64decode_or_none(data):
    """``data`` base64-decoded, or None when its padding is broken."""
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None


def _decode_strict(data, codec):
    """``data`` decoded with ``codec``, or None when it does not fit."""
    try:
        return _strip_bom(data.decode(codec))
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data, declared=None):
    """Decode bytes of a mail part or header to text; never raises.

    Order: the declared charset (after alias mapping) when it decodes
    strictly, then UTF-8, then the cp1251/koi8-r vote, then UTF-8 with
    replacement characters (chosen before the vote when the bytes are
    mostly valid UTF-8, e.g. truncated in the middle of a character).
    A declaration that decodes without error is trusted even when the
    result looks odd: second-guessing valid labels breaks more mail than it
    fixes.

    :param bytes data: the raw bytes
    :param str declared: the charset label from the mail, if any
    :return: ``(text, charset_used)``, charset_used being a Python codec name
    """
    if isinstance(data, str):
        return data, "utf-8"
    data = bytes(data or b"")
    codec = lookup_charset(declared) if declared else None
    if codec and codec != "ascii" or codec == "ascii" and data.isascii():
        text = _decode_strict(data, codec)
        if text is not None:
            return text, codec
    if data.isascii():
        return data.decode("ascii"), "ascii"
    text = _decode_strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    lossy = data.decode("utf-8", "replace")
    # UTF-8 cut in the middle of a character (truncated headers, badly
    # split encoded words) is still UTF-8: cp1251/koi8-r text almost never
    # forms valid multi-byte sequences, so it is mostly U+FFFD here
    bad = lossy.count("\ufffd")
    good = sum(c > "\x7f" for c in lossy) - bad
    if good < 2 * bad:
        found = detect_cyrillic(data)
        if found:
            return found
    return _strip_bom(lossy), "utf-8"


def _strip_bom(text):
    return text[1:] if text.startswith("\ufeff") else text


def unescape_8bit(value):
    """Recover raw 8-bit bytes smuggled into a ``str`` by the stdlib parser.

    ``email`` parsers keep undecodable header bytes as lone surrogates
    (``surrogateescape``). This re-encodes them and decodes the whole value
    with :func:`decode_bytes`.

    :param str value: a header value, possibly holding surrogates
    :return: clean text
    """
    if value.isascii() or not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    return decode_bytes(data, None)[0]


def decode_b64_lenient(data):
    """Decode base64, recovering as much as possible from broken input.

    Junk characters are dropped, missing padding is added, a dangling last
    character is ignored, and blocks glued together after ``=`` padding
    (some mailers concatenate encoded chunks) are decoded one by one.

    :param bytes data: the base64 text
    :return: ``(decoded bytes, was_clean)``
    """
    data = bytes(data)
    end = data.find(b"=")
    # b64decode silently stops at the first padding: only trust it when no
    # base64 text follows the padding
    if end == -1 or not _B64_CHAR_RE.search(data, end):
        decoded = _b64decode_or_none(data)
        if decoded is not None:
            return decoded, True
    out = []
    for chunk in re.split(rb"=+", data):
        chunk = _B64_JUNK_RE.sub(b"", chunk)
        chunk = chunk[: len(chunk) - len(chunk) % 4 if len(chunk) % 4 == 1 else None]
        if chunk:
            out.append(base64.b64decode(chunk + b"=" * (-len(chunk) % 4)))
    return b"".join(out), False


def _decode_q(text):
    """Decode the Q encoding of RFC 2047, leaving malformed escapes alone."""
    data = text.encode("ascii", "surrogateescape").replace(b"_", b" ")
    return _QP_HEX_RE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def decode_header_value(value):
    """Decode a header value to clean text, tolerating real-world breakage.

    Handles RFC 2047 encoded words in any charset (adjacent words of one
    charset are joined before decoding, so a UTF-8 character split across
    two words survives), unknown or wrong charsets, broken base64, raw 8-bit
    bytes, folding. Whitespace runs collapse to one space; NUL characters
    are dropped (PostgreSQL text cannot hold them).

    :param value: a ``str`` (possibly with surrogate-escaped bytes),
        ``bytes``, an ``email.header.Header`` or None
    :return: the decoded text, stripped
    """
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("ascii", "surrogateescape")
    elif not isinstance(value, str):
        value = str(value)
    if "=?" not in value:
        return _clean(unescape_8bit(value))
    pieces = []  # text, or [charset, bytes] runs still to decode
    pos = 0
    for match in _ENCODED_WORD_RE.finditer(value):
        gap = value[pos : match.start()]
        run = pieces[-1] if pieces and isinstance(pieces[-1], list) else None
        if gap and not (run and _BETWEEN_WORDS_RE.fullmatch(gap)):
            # whitespace between two encoded words is not part of the text
            pieces.append(unescape_8bit(gap))
            run = None
        charset, kind, payload = match.groups()
        if kind in "bB":
            data = decode_b64_lenient(payload.encode("ascii", "surrogateescape"))[0]
        else:
            data = _decode_q(payload)
        charset = charset.lower()
        if run and run[0] == charset:
            run[1] += data
        else:
            pieces.append([charset, data])
        pos = match.end()
    pieces.append(unescape_8bit(value[pos:]))
    text = "".join(
        p if isinstance(p, str) else decode_bytes(p[1], p[0])[0] for p in pieces
    )
    return _clean(text)


def _clean(text):
    return _WS_RE.sub(" ", text.replace("\x00", "")).strip()
