"""Sender patterns of the blacklist (and later of routing rules).

The stdlib ``re`` cannot be interrupted, so a pathological expression could
stall a fetch. Instead of adding the ``regex`` package we refuse, on save,
expressions with nested unbounded repeats (the shape of catastrophic
backtracking), and match only short text: an address (at most 320
characters) or the first 64 KB of a subject or body (:func:`bounded_search`).
"""

import fnmatch
import re
from dataclasses import dataclass

try:  # Python 3.11+: the parser moved under re
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants
    import sre_parse

from .addresses import normalize
from .exceptions import MailEngineError

MAX_ADDRESS = 320
MAX_PATTERN = 500
_UNBOUNDED = sre_constants.MAXREPEAT
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)


class PatternError(MailEngineError):
    """A pattern was refused: ``empty``, ``too_long``, ``invalid_regex``,
    ``nested_quantifier``."""

    code = "pattern"


@dataclass(slots=True, frozen=True)
class SenderPattern:
    """A compiled sender pattern."""

    kind: str  # 'address' | 'domain' | 'wildcard' | 'regex'
    value: str
    subdomains: bool = True


def _has_unbounded_repeat(items):
    for op, av in items:
        if op in _REPEATS:
            if av[1] == _UNBOUNDED or _has_unbounded_repeat(av[2]):
                return True
        elif op == sre_constants.SUBPATTERN:
            if _has_unbounded_repeat(av[-1]):
                return True
        elif op == sre_constants.BRANCH:
            if any(_has_unbounded_repeat(branch) for branch in av[1]):
                return True
    return False


def _nested_repeat(items):
    """True when an unbounded repeat contains another unbounded repeat."""
    for op, av in items:
        if op in _REPEATS:
            body = av[2]
            if av[1] == _UNBOUNDED and _has_unbounded_repeat(body):
                return True
            if _nested_repeat(body):
                return True
        elif op == sre_constants.SUBPATTERN:
            if _nested_repeat(av[-1]):
                return True
        elif op == sre_constants.BRANCH:
            if any(_nested_repeat(branch) for branch in av[1]):
                return True
    return False


def check_regex(source):
    """Compile a user regex, refusing shapes that can backtrack forever.

    :param str source: the expression
    :return: the compiled expression (case-insensitive)
    :raise PatternError: invalid or dangerous expression
    """
    if len(source) > MAX_PATTERN:
        raise PatternError("pattern too long", code="too_long")
    try:
        parsed = sre_parse.parse(source)
        compiled = re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise PatternError(
            f"invalid regular expression: {error}", code="invalid_regex"
        ) from error
    if _nested_repeat(list(parsed)):
        raise PatternError(
            "nested repetition such as (a+)+ can take forever", code="nested_quantifier"
        )
    return compiled


def compile_pattern(text, subdomains=True):
    """Parse a blacklist entry.

    ``ivan@spam.example`` is an address, ``@spam.example`` or
    ``spam.example`` a domain, text with ``*`` or ``?`` a wildcard, and
    ``/.../`` or ``re:...`` a regular expression.

    :param str text: the entry as typed
    :param bool subdomains: a domain also matches its subdomains
    :return: :class:`SenderPattern`
    :raise PatternError: empty, too long or invalid
    """
    text = (text or "").strip()
    if not text:
        raise PatternError("empty pattern", code="empty")
    if len(text) > MAX_PATTERN:
        raise PatternError("pattern too long", code="too_long")
    if text.startswith("re:") or (len(text) > 1 and text[0] == text[-1] == "/"):
        source = text[3:] if text.startswith("re:") else text[1:-1]
        check_regex(source)
        return SenderPattern("regex", source, subdomains)
    if "*" in text or "?" in text:
        return SenderPattern("wildcard", text.lower(), subdomains)
    if "@" in text and not text.startswith("@"):
        address = normalize(text)
        if not address:
            raise PatternError("not an address", code="invalid_address")
        return SenderPattern("address", address, subdomains)
    return SenderPattern("domain", text.lstrip("@").lower(), subdomains)


def matches(pattern, address):
    """Does a normalized sender address match the pattern?"""
    address = (address or "").lower()[:MAX_ADDRESS]
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
        return fnmatch.fnmatchcase(address, pattern.value)
    return re.search(pattern.value, address, re.IGNORECASE) is not None


def first_match(patterns, address):
    """The first pattern matching the address, or None."""
    return next((p for p in patterns if matches(p, address)), None)


def bounded_search(compiled, text, limit=65536):
    """Search only the first ``limit`` characters of ``text``."""
    return compiled.search((text or "")[:limit]) is not None
