"""E-mail addresses: normalizing, splitting lists, formatting for storage.

One small tolerant tokenizer serves both RFC 5322 address-list headers
(display names, quoted names holding commas, comments, groups) and the free
text users type into an "emails" field (addresses separated by commas,
semicolons, spaces or newlines). It does not depend on
``email.utils.getaddresses``, whose results changed across Python patch
releases (the 2024 strict-parsing security fix).

Normalized addresses follow Odoo's ``odoo.tools.email_normalize``: the
domain is lowercased, the local part too when it is ASCII (a non-ASCII,
SMTPUTF8 local part is kept as written, as Odoo does).
"""

import re

from .charsets import decode_header_value, unescape_8bit

_TOKEN_RE = re.compile(
    r"""
      (?P<quoted>"(?:\\.|[^"\\])*")
    | (?P<comment>\((?:\\.|[^()\\])*\))
    | (?P<angle><[^<>]*>)
    | (?P<sep>[,;\r\n])
    | (?P<text>[^",;\r\n(<]+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_UNESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_FORBIDDEN = frozenset(' \t\r\n<>()[],;:"\\\x00')
_STRIP = "<>()[]\"'.,;:!?"
#: letters (IDNA domains may be given in Unicode), digits, hyphens, dots
_DOMAIN_RE = re.compile(r"[^\W_](?:[\w.-]*[^\W_])?")
_NEEDS_QUOTES_RE = re.compile(r'[,;<>()"\\@:\[\]]')


def _canonical(candidate):
    """Return the normalized form of one address candidate, or None.

    :param str candidate: a bare address, maybe with stray punctuation
    """
    addr = unescape_8bit(candidate).strip().strip(_STRIP)
    if addr[:7].lower() == "mailto:":
        addr = addr[7:]
    # obsolete source routes: <@relay.example:user@example.com>
    addr = addr.rsplit(":", 1)[-1]
    local, at, domain = addr.rpartition("@")
    if not local or not domain or "@" in local or "\ufffd" in addr:
        return None
    if any(c in _FORBIDDEN or c.isspace() for c in addr):
        return None
    if not _DOMAIN_RE.fullmatch(domain) or ".." in domain:
        return None
    if local.isascii():
        local = local.lower()
    return f"{local}@{domain.lower()}"


def _entries(text):
    """Split an address list into entries of ``(kind, value)`` tokens.

    Separators inside quoted strings, comments and angle brackets do not
    split. An unterminated quote or bracket is taken as a literal character,
    so broken input still yields its addresses.
    """
    entry = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        if kind == "sep":
            if entry:
                yield entry
            entry = []
        else:
            entry.append((kind, match.group()))
    if entry:
        yield entry


def _strip_group(tokens):
    """Drop an RFC 5322 group label (``Team: a@b``) or ``mailto:``."""
    for index, (kind, value) in enumerate(tokens):
        if kind == "text":
            head, colon, tail = value.partition(":")
            if colon and "@" not in head:
                tokens = list(tokens)
                tokens[index] = ("text", tail)
            return tokens
        if kind != "comment":
            return tokens
    return tokens


def _entry_pairs(tokens):
    """Yield ``(display name, address)`` pairs of one list entry."""
    tokens = _strip_group(tokens)
    name_parts, comments, bare = [], [], []
    angles = [value[1:-1] for kind, value in tokens if kind == "angle"]
    angle_addrs = [a for a in angles if "@" in a]
    for kind, value in tokens:
        if kind == "quoted":
            name_parts.append(_UNESCAPE_RE.sub(r"\1", value[1:-1]))
        elif kind == "comment":
            comments.append(_UNESCAPE_RE.sub(r"\1", value[1:-1]))
        elif kind in ("text", "other"):
            for word in value.split():
                if "@" in word and not angle_addrs:
                    bare.append(word)
                elif word.strip("<>"):  # an unterminated bracket is no name
                    name_parts.append(word.strip("<>"))
    candidates = angle_addrs[-1:] if angle_addrs else bare
    addresses = [a for a in map(_canonical, candidates) if a]
    if not addresses:
        return
    if len(addresses) > 1:
        # "a@x b@y": a whitespace-separated list, names are meaningless
        yield from (("", address) for address in addresses)
        return
    name = decode_header_value(" ".join(name_parts) or " ".join(comments))
    name = name.strip("'\" ")
    if name.lower() == addresses[0] or _canonical(name) == addresses[0]:
        name = ""  # Outlook's "a@b <a@b>"
    yield name, addresses[0]


def _parse(text):
    if not text or not isinstance(text, str):
        return []
    # unfold header lines first: only a bare line break separates addresses
    text = _FOLD_RE.sub("", text)
    pairs = []
    for tokens in _entries(text):
        pairs.extend(_entry_pairs(tokens))
    return pairs


def normalize(address):
    """Return the normalized bare address of a single-address string.

    ``"Ivan <Ivan@Example.COM>"`` gives ``"ivan@example.com"``. Like Odoo's
    ``email_normalize`` (strict mode), a text holding several addresses is
    not *an* address.

    :param str address: an address with or without display name
    :return: ``local@domain`` lowercased (see module doc), or None
    """
    pairs = _parse(address)
    return pairs[0][1] if len(pairs) == 1 else None


def domain_of(address):
    """Return the lowercased domain of an address.

    :param str address: an address with or without display name
    :return: the domain, or None if ``address`` is not an address
    """
    normalized = normalize(address)
    return normalized.rpartition("@")[2] if normalized else None


def parse_address_list(header_value):
    """Parse an address-list header into ``(display name, address)`` pairs.

    Display names are decoded from RFC 2047 (and raw 8-bit), addresses are
    normalized; entries without a valid address are dropped, and a repeated
    address keeps its first position (and the first non-empty name).

    :param str header_value: the raw header value (or free text)
    :return: list of ``(name, normalized address)``
    """
    result, index = [], {}
    for name, address in _parse(header_value):
        if address not in index:
            index[address] = len(result)
            result.append((name, address))
        elif name and not result[index[address]][0]:
            result[index[address]] = (name, address)
    return result


def split_addresses(text):
    """Return all normalized addresses found in a text or address list.

    Accepts what users type into an "emails" field (commas, semicolons,
    spaces, newlines between addresses) as well as full RFC 5322 headers.

    :param str text: free text or a header value
    :return: normalized addresses, deduplicated, in order of appearance
    """
    return [address for _name, address in parse_address_list(text)]


def format_address_list(pairs):
    """Format ``(name, address)`` pairs for storage: ``Name <a@b>, c@d``.

    Names are kept in Unicode (this is for storage and display, not for the
    wire) and quoted when they hold characters that would break parsing, so
    :func:`parse_address_list` reads the result back unchanged.

    :param pairs: iterable of ``(display name, address)``
    :return: the formatted list, ``""`` when empty
    """
    items = []
    for name, address in pairs:
        if not address:
            continue
        name = " ".join((name or "").split())
        if not name:
            items.append(address)
            continue
        if _NEEDS_QUOTES_RE.search(name):
            name = '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')
        items.append(f"{name} <{address}>")
    return ", ".join(items)


def invalid_entries(text):
    """The entries of a typed address list that hold no valid address.

    The composer refuses to send when one of the recipients the user typed
    is not an address (a mail client would), instead of dropping it.

    :param str text: what the user typed (commas or semicolons between)
    :return: list of the offending entries, as typed (stripped)
    """
    if not text:
        return []
    text = _FOLD_RE.sub("", text)
    bad = []
    for tokens in _entries(text):
        if not list(_entry_pairs(tokens)):
            typed = "".join(value for _kind, value in tokens).strip()
            if typed:
                bad.append(typed)
    return bad
