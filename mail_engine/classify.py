"""What kind of sender wrote a mail: a person, or a robot.

Robots (auto-replies, bounces, mailings, no-reply senders) are stored but
never become partners or leads; spam and DMARC failures neither; Odoo's own
notifications fetched back through a mailbox must not loop.
"""

import re
from dataclasses import dataclass

_AUTO_SUBJECT = re.compile(
    r"^\s*((re|aw|ответ)\s*:\s*)*("
    r"автоответ|автоматический ответ|нет на месте|в отпуске|"
    r"out of (the )?office|automatic reply|auto[- ]?reply|autoreply|abwesenheit"
    r")",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver(ed|able)|delivery status notification|mail delivery failed|"
    r"returned mail|недоставленное сообщение|не удается доставить|"
    r"не удалось доставить",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_NOREPLY_SENDER = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|mailer)([-_.+].*)?@",
    re.IGNORECASE,
)
_DMARC_FAIL = re.compile(r"\bdmarc\s*=\s*fail\b", re.IGNORECASE)
#: headers of bulk-mail services (each documented by its vendor)
_BULK_HEADERS = ("list-id", "list-unsubscribe", "x-mailchimp-campaign", "x-campaign")


@dataclass(slots=True, frozen=True)
class Classification:
    """What the engine found out about the sender of a mail."""

    auto_kind: str | None = None  # 'auto_reply' | 'bounce' | 'bulk' | 'noreply'
    is_spam: bool = False
    auth_failed: bool = False
    is_own_notification: bool = False
    reasons: tuple = ()


def _header(parsed, name):
    return (parsed.header(name) or "").strip()


def _robot_kinds(parsed, raw_content_type):
    """Kinds of robot a mail looks like, and why."""
    reasons = []
    kinds = set()

    def hit(kind, reason):
        kinds.add(kind)
        reasons.append(reason)

    sender = parsed.email_from or ""
    subject = parsed.subject or ""
    content_type = (raw_content_type or _header(parsed, "Content-Type")).lower()

    if content_type.startswith("multipart/report"):
        hit("bounce", "content-type:report")
    if _BOUNCE_SENDER.match(sender):
        hit("bounce", "sender:mailer-daemon")
    if parsed.header("X-Failed-Recipients"):
        hit("bounce", "header:x-failed-recipients")
    if _BOUNCE_SUBJECT.search(subject):
        hit("bounce", "subject:bounce")

    auto_submitted = _header(parsed, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        hit("auto_reply", "header:auto-submitted")
    if parsed.header("X-Autoreply") or parsed.header("X-Autorespond"):
        hit("auto_reply", "header:x-autoreply")
    precedence = _header(parsed, "Precedence").lower()
    if precedence == "auto_reply":
        hit("auto_reply", "header:precedence")
    if _AUTO_SUBJECT.match(subject):
        hit("auto_reply", "subject:out-of-office")

    if precedence in ("bulk", "junk", "list"):
        hit("bulk", "header:precedence")
    for name in _BULK_HEADERS:
        if parsed.header(name):
            hit("bulk", f"header:{name}")
            break

    if _NOREPLY_SENDER.match(sender):
        hit("noreply", "sender:noreply")

    return kinds, reasons


def classify(parsed, *, own_message_id_domains=(), raw_content_type=None):
    """Classify a parsed mail.

    :param parsed: a :class:`mime.ParsedMessage`
    :param own_message_id_domains: host names Odoo writes into its Message-IDs
    :param str raw_content_type: the top Content-Type when known
    :return: :class:`Classification`
    """
    kinds, reasons = _robot_kinds(parsed, raw_content_type)
    auto_kind = next(
        (k for k in ("bounce", "auto_reply", "bulk", "noreply") if k in kinds), None
    )
    spam_flag = _header(parsed, "X-Spam-Flag").upper() == "YES"
    spam_status = _header(parsed, "X-Spam-Status").lower().startswith("yes")
    if spam_flag or spam_status:
        reasons.append("header:x-spam")
    auth_failed = any(
        _DMARC_FAIL.search(v) for v in parsed.headers_all("Authentication-Results")
    )
    if auth_failed:
        reasons.append("header:dmarc-fail")
    message_id = parsed.message_id or ""
    host = message_id.strip("<>").rpartition("@")[2]
    own = (
        bool(parsed.header("X-Odoo-Objects"))
        or "-openerp-" in message_id
        or (host and host in own_message_id_domains)
    )
    if own:
        reasons.append("odoo-notification")
    return Classification(
        auto_kind=auto_kind,
        is_spam=spam_flag or spam_status,
        auth_failed=auth_failed,
        is_own_notification=bool(own),
        reasons=tuple(reasons),
    )
