"""Routing rules: which rules fire for a mail, and which condition lines matched.

A rule is a list of conditions joined by ``all`` (every condition holds) or
``any`` (one is enough); a rule without conditions fires for every mail.
A condition looks at one part of the mail:

- ``from``, ``to``, ``cc``: every address and every display name of the
  field is an item (``equals`` compares whole items, so
  ``ivan@client.example`` equals the sender address and ``Ivan Petrov`` his
  name);
- ``subject``; ``body`` (the plain-text body);
- ``header``: every value of the header ``header_name`` (a header that is
  missing has no items).

``value`` holds one value per line; blank lines are ignored. In ``from``,
``to`` and ``cc`` a line may also list several values separated by commas
or semicolons (see :func:`split_values`). A positive
operator (``contains``, ``equals``, ``starts_with``, ``ends_with``,
``regex``) holds when any line matches any item. ``not_contains`` and
``not_equals`` are their negations: they hold when *no* line matches (so
"not from a or b" is written as two lines). Everything is case-insensitive.

Bounded matching. The stdlib ``re`` cannot be interrupted: a pathological
expression on a large body stalls the fetch, and refusing dangerous shapes
on save (:func:`.patterns.check_regex`) only catches the exponential ones.
Polynomial shapes pass that check yet still explode: ``x*y`` searched in
64 KB of ``x`` takes about 4 s with ``re``, ``.*.*=.*;`` far longer. So
user expressions run on the ``regex`` package (PyPI), whose searches take a
``timeout``:

- every search gets at most :data:`REGEX_TIMEOUT` seconds, and all searches
  for one mail together :data:`MAIL_BUDGET` seconds; a search that runs out
  counts as *not matched* and is reported (``timed_out``) so the dry run
  can say so;
- the shapes :func:`.patterns.check_regex` refuses are still refused on save,
  with a clear message, since they would only ever time out;
- every text is cut to :data:`TEXT_LIMIT` characters (a 10 MB body costs
  memory and case folding even for ``contains``).

Without the ``regex`` package (the engine used outside Odoo, whose manifest
requires it) matching falls back to ``re`` on the first
:data:`FALLBACK_REGEX_LIMIT` characters, where a quadratic shape stays
around a quarter of a second.
"""

import re
import time
from dataclasses import dataclass, field

from .patterns import PatternError, check_regex

try:
    import regex as _regex
except ImportError:  # pragma: no cover - exercised by monkeypatching in tests
    _regex = None

FIELDS = ("from", "to", "cc", "subject", "body", "header")
#: address fields: a value line may list several values (``a@x, b@y``)
LIST_FIELDS = ("from", "to", "cc")
_LIST_SPLIT = re.compile(r"[,;]")
OPERATORS = (
    "contains",
    "not_contains",
    "equals",
    "not_equals",
    "starts_with",
    "ends_with",
    "regex",
)
NEGATIVE = {"not_contains": "contains", "not_equals": "equals"}
MATCHES = ("all", "any")

#: characters of any text (body, subject, header value) that are looked at
TEXT_LIMIT = 256 * 1024
#: characters searched by a regex when the ``regex`` package is missing
FALLBACK_REGEX_LIMIT = 16 * 1024
#: seconds one regex search may take
REGEX_TIMEOUT = 0.1
#: seconds all regex searches for one mail may take together
MAIL_BUDGET = 1.0
#: longest header name accepted (RFC 5322 has no limit; real ones are short)
MAX_HEADER_NAME = 200
#: value lines of one condition
MAX_LINES = 500

_HEADER_NAME_RE = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable, no ':'


class RuleError(PatternError):
    """A condition was refused.

    codes: ``unknown_field``, ``unknown_operator``, ``unknown_match``,
    ``header_name``, ``empty``, ``too_many_lines``, and for a ``regex`` line
    those of :class:`.patterns.PatternError` (``invalid_regex``,
    ``nested_quantifier``, ``ambiguous_alternation``, ``too_long``).
    ``detail`` holds the offending line, when there is one.
    """

    code = "rule"


@dataclass(slots=True, frozen=True)
class Condition:
    """A checked condition; ``values`` are the non-blank lines, casefolded
    (``patterns`` holds the compiled expressions for ``regex``)."""

    field: str
    operator: str
    values: tuple[str, ...]
    header_name: str = ""
    lines: tuple[str, ...] = ()  # the lines as typed, for reports
    patterns: tuple = ()


@dataclass(slots=True, frozen=True)
class Rule:
    """A checked rule. ``key`` is the caller's handle (a record id)."""

    key: object
    match: str = "all"
    conditions: tuple[Condition, ...] = ()
    stop: bool = False


@dataclass(slots=True, frozen=True)
class ConditionResult:
    """Outcome of one condition.

    :ivar bool matched: the condition holds (negation applied)
    :ivar tuple hits: the lines (as typed) found in the mail; for a negative
        operator these are the lines that made it fail
    :ivar tuple timed_out: regex lines whose search ran out of time
    """

    index: int
    matched: bool
    hits: tuple[str, ...] = ()
    timed_out: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class RuleResult:
    """Outcome of one rule; ``conditions`` lists those evaluated, in order."""

    key: object
    matched: bool
    conditions: tuple[ConditionResult, ...] = ()


# ------------------------------------------------------------
# Compiling
# ------------------------------------------------------------


def _compile_regex(line):
    """Check a regex line on save and compile it for matching."""
    compiled = check_regex(line)  # refuses exponential shapes, invalid syntax
    if _regex is None:
        return compiled
    try:
        return _regex.compile(line, _regex.IGNORECASE | _regex.V0)
    except _regex.error as error:  # a few ``re`` constructs differ
        raise PatternError(
            f"invalid regular expression: {error}", code="invalid_regex"
        ) from error


def split_values(field, operator, value):
    """The values of a condition: one per line; in an address field
    (:data:`LIST_FIELDS`) a line may also list several, separated by commas
    or semicolons, as mail programs write them (a line is split only when
    every part is an address: a name with a comma stays whole). A subject or
    body keeps its commas, and so does a regular expression (``{1,3}``).

    :return: tuple of the non-blank values, stripped

    >>> split_values("from", "equals", "a@x.example, b@y.example\nc@z.example")
    ('a@x.example', 'b@y.example', 'c@z.example')
    >>> split_values("subject", "contains", "Order, urgent")
    ('Order, urgent',)
    """
    lines = [line.strip() for line in (value or "").splitlines() if line.strip()]
    if field in LIST_FIELDS and operator != "regex":
        split = []
        for line in lines:
            parts = [part.strip() for part in _LIST_SPLIT.split(line) if part.strip()]
            # a list of addresses; a name with a comma ("Romashka, LLC")
            # stays whole, as rules saved before the split meant it
            split.extend(parts if all("@" in part for part in parts) else [line])
        lines = split
    return tuple(line for line in lines if line)


def compile_condition(field, operator, value, header_name=""):
    """Check one condition as typed by a user.

    :param str field: one of :data:`FIELDS`
    :param str operator: one of :data:`OPERATORS`
    :param str value: one value per line (see :func:`split_values`)
    :param str header_name: the header looked at when ``field='header'``
    :return: :class:`Condition`
    :raise RuleError: see :class:`RuleError` for the codes
    """
    if field not in FIELDS:
        raise RuleError(f"unknown field {field!r}", code="unknown_field")
    if operator not in OPERATORS:
        raise RuleError(f"unknown operator {operator!r}", code="unknown_operator")
    header_name = (header_name or "").strip()
    if field == "header" and (
        not _HEADER_NAME_RE.fullmatch(header_name) or len(header_name) > MAX_HEADER_NAME
    ):
        raise RuleError(f"not a header name: {header_name!r}", code="header_name")
    lines = split_values(field, operator, value)
    if not lines:
        raise RuleError("no value given", code="empty")
    if len(lines) > MAX_LINES:
        raise RuleError(f"more than {MAX_LINES} value lines", code="too_many_lines")
    patterns = ()
    if operator == "regex":
        compiled = []
        for line in lines:
            try:
                compiled.append(_compile_regex(line))
            except PatternError as error:
                raise RuleError(str(error), code=error.code, detail=line) from error
        patterns = tuple(compiled)
    return Condition(
        field=field,
        operator=operator,
        values=tuple(line.casefold() for line in lines),
        header_name=header_name.lower() if field == "header" else "",
        lines=lines,
        patterns=patterns,
    )


def compile_rule(key, match, conditions, stop=False):
    """Bundle checked conditions into a rule.

    :param key: the caller's handle, returned in results
    :param str match: ``all`` or ``any``
    :param conditions: iterable of :class:`Condition`
    :param bool stop: later rules are not evaluated once this one fires
    :return: :class:`Rule`
    :raise RuleError: code ``unknown_match``
    """
    if match not in MATCHES:
        raise RuleError(f"unknown match {match!r}", code="unknown_match")
    return Rule(key=key, match=match, conditions=tuple(conditions), stop=bool(stop))


# ------------------------------------------------------------
# Matching
# ------------------------------------------------------------


class _Budget:
    """The time all regex searches of one mail may still take."""

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds

    def slice(self):
        """Seconds the next search may take (0 when the budget is spent)."""
        return max(0.0, min(REGEX_TIMEOUT, self.deadline - time.monotonic()))


@dataclass(slots=True)
class _View:
    """The items of each field of one mail, cut and casefolded once."""

    message: object
    items: dict = field(default_factory=dict)

    def get(self, condition):
        key = (condition.field, condition.header_name)
        if key not in self.items:
            raw = [(t or "")[:TEXT_LIMIT].strip() for t in self._raw(condition)]
            raw = [t for t in raw if t]
            self.items[key] = (raw, [t.casefold() for t in raw])
        return self.items[key]

    def _raw(self, condition):
        msg = self.message
        if condition.field == "from":
            return [msg.email_from, msg.from_name]
        if condition.field in ("to", "cc"):
            pairs = msg.to if condition.field == "to" else msg.cc
            return [text for pair in pairs for text in (pair[1], pair[0])]
        if condition.field == "subject":
            return [msg.subject]
        if condition.field == "body":
            return [msg.body_text]
        return msg.headers_all(condition.header_name)


def _line_hits(operator, value, folded_items):
    if operator == "contains":
        return any(value in item for item in folded_items)
    if operator == "equals":
        return any(value == item for item in folded_items)
    if operator == "starts_with":
        return any(item.startswith(value) for item in folded_items)
    if operator == "ends_with":
        return any(item.endswith(value) for item in folded_items)
    raise ValueError(f"unknown operator {operator!r}")


def _regex_hits(pattern, items, budget):
    """(matched, timed out) of one regex line over the items."""
    for item in items:
        if isinstance(pattern, re.Pattern):
            # stdlib fallback: cannot be interrupted, so look at less text
            if pattern.search(item[:FALLBACK_REGEX_LIMIT]) is not None:
                return True, False
            continue
        timeout = budget.slice()
        if timeout <= 0:
            return False, True
        try:
            if pattern.search(item, timeout=timeout) is not None:
                return True, False
        except TimeoutError:
            return False, True
    return False, False


def evaluate_condition(condition, view, budget, index=0):
    """Evaluate one condition on a mail view.

    :return: :class:`ConditionResult`
    """
    raw_items, folded_items = view.get(condition)
    hits, timed_out = [], []
    if condition.operator == "regex":
        for line, pattern in zip(condition.lines, condition.patterns, strict=True):
            found, late = _regex_hits(pattern, raw_items, budget)
            if found:
                hits.append(line)
            elif late:
                timed_out.append(line)
        matched = bool(hits)
    else:
        positive = NEGATIVE.get(condition.operator, condition.operator)
        hits = [
            line
            for line, value in zip(condition.lines, condition.values, strict=True)
            if _line_hits(positive, value, folded_items)
        ]
        matched = bool(hits) != (condition.operator in NEGATIVE)
    return ConditionResult(index, matched, tuple(hits), tuple(timed_out))


def evaluate_rule(rule, message, *, explain=False, budget=None, view=None):
    """Does a rule fire for a mail?

    :param Rule rule: from :func:`compile_rule`
    :param message: a :class:`.mime.ParsedMessage` (or an object with the
        same attributes and ``headers_all``)
    :param bool explain: evaluate every condition (for a dry run) instead
        of stopping as soon as the outcome is known
    :return: :class:`RuleResult`
    """
    budget = budget or _Budget(MAIL_BUDGET)
    view = view or _View(message)
    results = []
    if not rule.conditions:
        return RuleResult(rule.key, True, ())
    wanted = rule.match == "all"
    outcome = wanted
    for index, condition in enumerate(rule.conditions):
        result = evaluate_condition(condition, view, budget, index)
        results.append(result)
        if result.matched != wanted:
            outcome = not wanted
            if not explain:
                break
    return RuleResult(rule.key, outcome, tuple(results))


def route(rules, message, *, explain=False, budget_seconds=MAIL_BUDGET):
    """Evaluate rules in order until one that fires says stop.

    :param rules: :class:`Rule` objects in the order they apply (the caller
        puts global rules before the account's own)
    :param message: a :class:`.mime.ParsedMessage`
    :param bool explain: see :func:`evaluate_rule`
    :param float budget_seconds: time all regex searches may take together
    :return: list of :class:`RuleResult`, one per rule evaluated; rules
        after a stopping rule are not evaluated
    """
    budget = _Budget(budget_seconds)
    view = _View(message)
    results = []
    for rule in rules:
        result = evaluate_rule(rule, message, explain=explain, budget=budget, view=view)
        results.append(result)
        if result.matched and rule.stop:
            break
    return results


def fired(results):
    """Keys of the rules that fired, in order.

    :param results: from :func:`route`
    :return: list of keys
    """
    return [result.key for result in results if result.matched]


__all__ = [
    "FIELDS",
    "MATCHES",
    "OPERATORS",
    "Condition",
    "ConditionResult",
    "Rule",
    "RuleError",
    "RuleResult",
    "compile_condition",
    "compile_rule",
    "evaluate_rule",
    "fired",
    "route",
]
