"""What kind of sender wrote a mail: a person, or a robot.

Robots (auto-replies, bounces, mailings, no-reply senders) are stored but
never become partners or leads; neither do spam and DMARC failures. Odoo's
own notifications, fetched back through a mailbox, must not loop.

Only headers and the subject are read, never the body. Headers can be
forged by the sender, but a forged robot or spam mark only hurts the sender
(no partner is made); nothing here makes a mail *more* trusted.
"""

import re
from dataclasses import dataclass

#: kinds of robot, strongest first: when several apply the first one wins
AUTO_KINDS = ("bounce", "auto_reply", "bulk", "noreply")

#: reply/forward prefixes an auto-reply subject may follow ("RE[2]:", "AW:")
_PREFIXES = r"^\s*(?:(?:re|aw|fw|fwd|ответ|отв)\s*(?:\[\d+\])?\s*:\s*)*"
_AUTO_SUBJECT = re.compile(
    _PREFIXES + r"(?:автоответ|автоматический\s+ответ|нет\s+на\s+месте|"
    r"в\s+отпуске|отсутствую|out\s+of\s+(?:the\s+)?office|automatic\s+reply|"
    r"auto[-\s]?reply|autoreply|auto[-\s]?response|abwesenheit|"
    r"automatische\s+antwort|réponse\s+automatique)",
    re.IGNORECASE,
)
#: the subjects of the usual MTAs' non-delivery reports, at the start only
#: (a person replying about a bounce writes "Re: ...")
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undelivered\s+mail\s+returned\s+to\s+sender"  # Postfix
    r"|undeliverable\s*:"  # Exchange
    r"|delivery\s+status\s+notification"  # Gmail, Exchange
    r"|mail\s+delivery\s+failed"  # Exim
    r"|returned\s+mail\s*:"  # Sendmail
    r"|failure\s+notice"  # qmail, Yahoo
    r"|недоставленное\s+сообщение"  # Yandex
    r"|не\s+удается\s+доставить"  # Exchange (ru)
    r"|не\s+удалось\s+доставить"
    r"|не\s+доставлено\s*:)",
    re.IGNORECASE,
)
_BOUNCE_LOCAL = re.compile(r"^(?:mailer-daemon|postmaster)$", re.IGNORECASE)
#: the whole local part, or such a word followed by a separator and more
_NOREPLY_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|mailer)"
    r"(?:[-_.+].*)?$",
    re.IGNORECASE,
)
#: Authentication-Results (RFC 8601) method result "dmarc=fail"
_DMARC_FAIL = re.compile(r"\bdmarc\s*=\s*fail\b", re.IGNORECASE)

#: headers marking bulk mail, each documented by its author:
#: List-Id (RFC 2919) and List-Unsubscribe (RFC 2369) are set by mailing
#: lists and by every large sender (required by Gmail and Yahoo since 2024);
#: X-Campaign / X-CampaignID / X-MC-User are Mailchimp's
_BULK_HEADERS = ("List-Id", "List-Unsubscribe", "X-Campaign", "X-CampaignID")
_BULK_HEADER_PREFIXES = ("x-mailchimp", "x-mc-")

#: X-Auto-Response-Suppress values Exchange/Outlook put on automatic mail;
#: Outlook also sets them on ordinary mail (meeting requests), hence they
#: count only together with an out-of-office subject
_SUPPRESS_AUTO = frozenset({"all", "oof"})

# Spam marks, only those set by widely used filters with a documented
# meaning; a mark set by the sender's side can only hurt the sender:
# - X-Spam-Flag: YES           SpamAssassin
# - X-Spam-Status: Yes, ...    SpamAssassin (and Rspamd's x-spam-status)
# - X-Spam: Yes                Rspamd milter_headers "spam-header" routine
# Not used: X-Yandex-Spam (values undocumented; "1" is seen on clean mail)
# and X-Mailru-Msgtype (a message category, not a spam verdict).
_SPAM_HEADERS = (
    ("X-Spam-Flag", "yes"),
    ("X-Spam-Status", "yes"),
    ("X-Spam", "yes"),
)


@dataclass(slots=True, frozen=True)
class Classification:
    """What the engine found out about the sender of a mail.

    ``auto_kind`` is one of :data:`AUTO_KINDS` or None for a person;
    ``reasons`` lists what matched, e.g. ``"header:auto-submitted"``,
    ``"subject:out-of-office"``, ``"sender:mailer-daemon"``.
    """

    auto_kind: str | None = None
    is_spam: bool = False
    auth_failed: bool = False
    is_own_notification: bool = False
    reasons: tuple[str, ...] = ()


def _header(parsed, name):
    return " ".join((parsed.header(name) or "").split())


def _first_word(value):
    return value.split(";")[0].strip().lower()


def _local_part(address):
    return (address or "").rpartition("@")[0]


def _bounce(parsed, content_type, local):
    if _first_word(content_type) == "multipart/report":
        yield "content-type:multipart-report"
    if _BOUNCE_LOCAL.match(local):
        yield "sender:mailer-daemon"
    if parsed.header("X-Failed-Recipients") is not None:
        yield "header:x-failed-recipients"
    if _BOUNCE_SUBJECT.match(parsed.subject or ""):
        yield "subject:bounce"


def _auto_reply(parsed):
    auto_submitted = _first_word(_header(parsed, "Auto-Submitted"))
    if auto_submitted and auto_submitted != "no":
        yield "header:auto-submitted"
    if parsed.header("X-Autoreply") is not None:
        yield "header:x-autoreply"
    if parsed.header("X-Autorespond") is not None:
        yield "header:x-autorespond"
    if _first_word(_header(parsed, "Precedence")) == "auto_reply":
        yield "header:precedence-auto-reply"
    if _AUTO_SUBJECT.match(parsed.subject or ""):
        yield "subject:out-of-office"
        suppress = _header(parsed, "X-Auto-Response-Suppress").lower()
        if _SUPPRESS_AUTO & {v.strip() for v in suppress.split(",")}:
            yield "header:x-auto-response-suppress"


def _bulk(parsed):
    if _first_word(_header(parsed, "Precedence")) in ("bulk", "junk", "list"):
        yield "header:precedence-bulk"
    for name in _BULK_HEADERS:
        if parsed.header(name) is not None:
            yield f"header:{name.lower()}"
    for name, _value in parsed.headers:
        if name.lower().startswith(_BULK_HEADER_PREFIXES):
            yield "header:mailchimp"
            break


def _spam(parsed):
    for name, expected in _SPAM_HEADERS:
        for value in parsed.headers_all(name):
            if _first_word(value.replace(",", ";")) == expected:
                yield f"spam:{name.lower()}"
                break


def _own(parsed, own_message_id_domains):
    if parsed.header("X-Odoo-Objects") is not None:
        yield "own:x-odoo-objects"
    message_id = (parsed.message_id or "").strip().strip("<>")
    if "-openerp-" in message_id:
        yield "own:message-id-openerp"
    host = message_id.rpartition("@")[2].lower()
    if isinstance(own_message_id_domains, str):
        own_message_id_domains = (own_message_id_domains,)
    own_hosts = {d.strip().lower() for d in own_message_id_domains if d}
    if host and host in own_hosts:
        yield "own:message-id-domain"


def classify(parsed, *, own_message_id_domains=(), raw_content_type=None):
    """Classify a parsed mail by its headers and subject.

    :param parsed: a :class:`~.mime.ParsedMessage`
    :param own_message_id_domains: host names Odoo writes after the ``@`` of
        its Message-IDs (Odoo 18: ``<...-openerp-42-res.partner@hostname>``)
    :param str raw_content_type: the top-level Content-Type, when the caller
        knows it better than the parsed headers
    :return: :class:`Classification`
    """
    local = _local_part(parsed.email_from)
    content_type = raw_content_type or _header(parsed, "Content-Type")
    found = {
        "bounce": list(_bounce(parsed, content_type, local)),
        "auto_reply": list(_auto_reply(parsed)),
        "bulk": list(_bulk(parsed)),
        "noreply": ["sender:noreply"] if _NOREPLY_LOCAL.match(local) else [],
    }
    reasons = [reason for kind in AUTO_KINDS for reason in found[kind]]
    spam = list(_spam(parsed))
    auth_failed = any(
        _DMARC_FAIL.search(value)
        for value in parsed.headers_all("Authentication-Results")
    )
    own = list(_own(parsed, own_message_id_domains))
    reasons += spam + (["auth:dmarc-fail"] if auth_failed else []) + own
    return Classification(
        auto_kind=next((kind for kind in AUTO_KINDS if found[kind]), None),
        is_spam=bool(spam),
        auth_failed=auth_failed,
        is_own_notification=bool(own),
        reasons=tuple(reasons),
    )
