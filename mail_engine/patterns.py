"""Sender patterns of the blacklist (and of routing rules on subjects/bodies).

A pattern is typed by a user as one line of text:

- ``ivan@spam.example``: one address (normalized);
- ``@spam.example`` or ``spam.example``: a domain, and with ``subdomains``
  any ``*.spam.example`` too;
- text holding ``*`` or ``?``: a wildcard (:mod:`fnmatch` semantics,
  case-insensitive) on the whole normalized address;
- ``re:...`` or ``/.../``: a regular expression, searched case-insensitively.

Why no ``regex`` package: the stdlib ``re`` cannot be interrupted or given
a timeout, so one pathological expression could stall a fetch. Rather than
adding a dependency we (1) refuse, when a pattern is saved, the expression
shapes that backtrack exponentially (:func:`check_regex`), and (2) run every
match on short text only: an address is cut to :data:`MAX_ADDRESS`
characters (the longest legal address) and subjects/bodies to the first
64 KB (:func:`bounded_search`). Polynomial backtracking (``.*.*.*x``) is
not refused; on such short text it stays cheap.
"""

import fnmatch
import re
from dataclasses import dataclass

try:  # Python 3.11+: the regex parser lives under ``re``
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

from .addresses import normalize
from .exceptions import MailEngineError

#: RFC 5321: 64 (local part) + 1 + 255 (domain)
MAX_ADDRESS = 320
#: longest pattern accepted, in characters
MAX_PATTERN = 500
#: default number of characters :func:`bounded_search` looks at
SEARCH_LIMIT = 65536

KINDS = ("address", "domain", "wildcard", "regex")

_C = sre_constants
_UNBOUNDED = _C.MAXREPEAT
# POSSESSIVE_REPEAT and ATOMIC_GROUP exist from Python 3.11 on
_POSSESSIVE = getattr(_C, "POSSESSIVE_REPEAT", None)
_ATOMIC = getattr(_C, "ATOMIC_GROUP", None)
_REPEATS = tuple(op for op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _POSSESSIVE) if op)
_ZERO_WIDTH = (_C.AT, _C.ASSERT, _C.ASSERT_NOT)
#: stands for "any character" in first-character sets
_ANY = None
#: character ranges wider than this count as "any character"
_MAX_RANGE = 256
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class PatternError(MailEngineError):
    """A pattern was refused.

    codes: ``empty``, ``too_long``, ``invalid_regex``, ``nested_quantifier``,
    ``ambiguous_alternation``, ``invalid_address``, ``invalid_domain``.
    """

    code = "pattern"


@dataclass(slots=True, frozen=True)
class SenderPattern:
    """A checked sender pattern.

    ``value`` is the normalized address, the lowercased domain (no ``@``),
    the lowercased wildcard, or the regex source (without ``re:``/slashes).
    """

    kind: str  # 'address' | 'domain' | 'wildcard' | 'regex'
    value: str
    subdomains: bool = True


# ------------------------------------------------------------
# Static check of regular expressions
# ------------------------------------------------------------


def _children(op, av):
    """Sub-sequences of one parsed regex node."""
    if op in _REPEATS:
        return [av[2]]
    if op == _C.SUBPATTERN:
        return [av[3]]
    if op == _C.BRANCH:
        return list(av[1])
    if op in (_C.ASSERT, _C.ASSERT_NOT):
        return [av[1]]
    if op == _ATOMIC:
        return [av]
    if op == _C.GROUPREF_EXISTS:
        return [branch for branch in av[1:] if branch is not None]
    return []


def _walk(items):
    """Yield every ``(op, av)`` node of a parsed regex, depth first."""
    for op, av in items:
        yield op, av
        for child in _children(op, av):
            yield from _walk(child)


def _is_unbounded(op, av):
    return op in _REPEATS and av[1] == _UNBOUNDED


def _charset(items):
    """First-character set of an ``IN`` node (``_ANY`` when too wide)."""
    chars = set()
    for op, av in items:
        if op == _C.LITERAL:
            chars.add(av)
        elif op == _C.RANGE and av[1] - av[0] <= _MAX_RANGE:
            chars.update(range(av[0], av[1] + 1))
        else:  # NEGATE, CATEGORY, wide ranges
            return _ANY
    return chars


def _first(items):
    """``(first characters, nullable)`` of a parsed regex sequence.

    The set over-approximates: ``_ANY`` whenever unsure (categories,
    negations, backreferences), which only makes the check stricter.
    Case variants are added because user patterns run with IGNORECASE.
    """
    first = set()
    for op, av in items:
        chars, nullable = _first_node(op, av)
        if chars is _ANY:
            return _ANY, False
        first |= chars
        if not nullable:
            return _casefold(first), False
    return _casefold(first), True


def _first_node(op, av):
    if op == _C.LITERAL:
        return {av}, False
    if op == _C.IN:
        return _charset(av), False
    if op in _ZERO_WIDTH:
        return set(), True
    if op == _C.SUBPATTERN:
        return _first(av[3])
    if op == _ATOMIC:
        return _first(av)
    if op in _REPEATS:
        chars, nullable = _first(av[2])
        return chars, nullable or av[0] == 0
    if op in (_C.BRANCH, _C.GROUPREF_EXISTS):
        branches = _children(op, av)
        results = [_first(branch) for branch in branches]
        if any(chars is _ANY for chars, _n in results):
            return _ANY, False
        chars = set().union(*(c for c, _n in results))
        missing_no = op == _C.GROUPREF_EXISTS and av[2] is None
        return chars, missing_no or any(n for _c, n in results)
    return _ANY, False  # ANY, NOT_LITERAL, CATEGORY, GROUPREF...


def _casefold(chars):
    folded = set(chars)
    for code in chars:
        char = chr(code)
        folded.update(ord(c) for c in (char.lower(), char.upper()) if len(c) == 1)
    return folded


def _meet(chars, other):
    """Do two first-character sets share a character?"""
    if chars is _ANY or other is _ANY:
        return chars is other or bool(chars or other)
    return bool(chars & other)


def _overlapping(branches, again):
    """True when alternatives inside a repeat leave two ways to go on.

    That is when two alternatives may start the same way (``a|b|ab``,
    ``x|.``), both may match the empty string, or one may be empty while
    another starts like the next iteration (``(a|aa)*``, which ``re``
    parses as ``(a(|a))*``).

    :param branches: the alternatives (parsed sequences)
    :param again: first-character set of the repeated body
    """
    firsts = [_first(branch) for branch in branches]
    if any(nullable for _c, nullable in firsts) and any(
        not nullable and _meet(chars, again) for chars, nullable in firsts
    ):
        return True
    for index, (chars, nullable) in enumerate(firsts):
        for other, other_nullable in firsts[index + 1 :]:
            if (nullable and other_nullable) or _meet(chars, other):
                return True
    return False


def _danger(parsed):
    """The error code of the first backtracking-prone shape, or None.

    Rule 1 (``nested_quantifier``): a repeat that may run more than once
    (``+``, ``*``, ``{2,}``, ``{2,50}``) whose body holds an unbounded
    repeat: ``(a+)+``, ``(a*)*``, ``(.*)*``, ``(\\w+\\s?)+``, ``(a+){2,50}``.
    Rule 2 (``ambiguous_alternation``): an unbounded repeat whose body holds
    alternatives that leave two ways to go on (see :func:`_overlapping`):
    ``(a|a)*`` (which ``re`` folds into ``(a(|))*``), ``(a|aa)*``, ``(x|.)*``.

    Both rules are conservative: some harmless expressions such as
    ``([a-z]+\\.)+`` are refused too; a domain or wildcard pattern covers them.
    """
    for op, av in _walk(parsed):
        if op not in _REPEATS or av[1] <= 1:
            continue
        body = list(_walk(av[2]))
        if any(_is_unbounded(o, a) for o, a in body):
            return "nested_quantifier"
        if av[1] == _UNBOUNDED:
            again = _first(av[2])[0]  # how the next iteration may start
            if any(o == _C.BRANCH and _overlapping(a[1], again) for o, a in body):
                return "ambiguous_alternation"
    return None


_DANGER_MESSAGES = {
    "nested_quantifier": "nested repetition such as (a+)+ can run for ever; "
    "use a domain or wildcard pattern, or a simpler expression",
    "ambiguous_alternation": "repeated alternatives that overlap, such as "
    "(a|aa)*, can run for ever; make the alternatives distinct",
}


def check_regex(source):
    """Compile a user regex, refusing shapes that can backtrack for ever.

    :param str source: the expression (without ``re:`` or slashes)
    :return: the compiled expression (case-insensitive)
    :raise PatternError: codes ``empty``, ``too_long``, ``invalid_regex``,
        ``nested_quantifier``, ``ambiguous_alternation``
    """
    if not source:
        raise PatternError("empty regular expression", code="empty")
    if len(source) > MAX_PATTERN:
        raise PatternError(
            f"pattern longer than {MAX_PATTERN} characters", code="too_long"
        )
    try:
        parsed = sre_parse.parse(source, re.IGNORECASE)
        compiled = re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise PatternError(
            f"invalid regular expression: {error}", code="invalid_regex"
        ) from error
    except RecursionError as error:  # absurdly deep nesting
        raise PatternError(
            "regular expression nested too deeply", code="invalid_regex"
        ) from error
    code = _danger(list(parsed))
    if code:
        raise PatternError(_DANGER_MESSAGES[code], code=code, detail=source)
    return compiled


# ------------------------------------------------------------
# Patterns
# ------------------------------------------------------------


def compile_pattern(text, subdomains=True):
    """Parse and check one pattern as typed by a user.

    :param str text: e.g. ``ivan@spam.example``, ``@spam.example``,
        ``spam.example``, ``*@*.spam.example``, ``re:^ads\\d+@``, ``/^ads/``
    :param bool subdomains: a domain pattern also matches its subdomains
    :return: :class:`SenderPattern`
    :raise PatternError: see :class:`PatternError` for the codes
    """
    text = (text or "").strip()
    if not text:
        raise PatternError("empty pattern", code="empty")
    if len(text) > MAX_PATTERN:
        raise PatternError(
            f"pattern longer than {MAX_PATTERN} characters", code="too_long"
        )
    subdomains = bool(subdomains)
    if text[:3].lower() == "re:" or (len(text) > 1 and text[0] == text[-1] == "/"):
        source = text[3:].strip() if text[:3].lower() == "re:" else text[1:-1]
        check_regex(source)
        return SenderPattern("regex", source, subdomains)
    if "*" in text or "?" in text:
        return SenderPattern("wildcard", text.lower(), subdomains)
    if "@" in text[1:]:
        address = normalize(text)
        if not address:
            raise PatternError(f"not an e-mail address: {text}", code="invalid_address")
        return SenderPattern("address", address, subdomains)
    domain = text.removeprefix("@").rstrip(".").lower()
    if not _DOMAIN_RE.fullmatch(domain):
        raise PatternError(f"not a mail domain: {text}", code="invalid_domain")
    return SenderPattern("domain", domain, subdomains)


def _address_key(address):
    """The bounded, normalized form of an address for matching."""
    address = (address or "")[:MAX_ADDRESS]
    return normalize(address) or address.strip().lower()


def matches(pattern, address):
    """Does a sender address match the pattern?

    Only the first :data:`MAX_ADDRESS` characters are looked at, so even an
    accepted regex runs on tiny input.

    :param SenderPattern pattern: from :func:`compile_pattern`
    :param str address: the sender, bare or with display name
    :return: bool
    """
    address = _address_key(address)
    if not address:
        return False
    if pattern.kind == "address":
        return address == pattern.value
    if pattern.kind == "domain":
        domain = address.rpartition("@")[2]
        return domain == pattern.value or (
            pattern.subdomains and domain.endswith("." + pattern.value)
        )
    if pattern.kind == "wildcard":
        return fnmatch.fnmatchcase(address.lower(), pattern.value)
    if pattern.kind == "regex":
        # re caches compiled expressions; the source was checked on save
        return re.search(pattern.value, address, re.IGNORECASE) is not None
    raise ValueError(f"unknown pattern kind {pattern.kind!r}")


def first_match(patterns, address):
    """The first pattern (in the given order) matching an address.

    :param patterns: iterable of :class:`SenderPattern`
    :param str address: the sender
    :return: the matching pattern object itself, or None
    """
    address = _address_key(address)
    if not address:
        return None
    return next((p for p in patterns if matches(p, address)), None)


def bounded_search(regex_compiled, text, limit=SEARCH_LIMIT):
    """Search a regex in the first ``limit`` characters of a text only.

    For rules on subjects and bodies: a body can be megabytes long, and a
    stdlib ``re`` search cannot be interrupted, so the text is cut instead.

    :param regex_compiled: a compiled expression (e.g. from
        :func:`check_regex`), or a source string, which is checked first
    :param str text: the subject or body
    :param int limit: characters to look at
    :return: bool
    :raise PatternError: only when given an unacceptable source string
    """
    if isinstance(regex_compiled, str):
        regex_compiled = check_regex(regex_compiled)
    return regex_compiled.search((text or "")[: max(limit, 0)]) is not None
