"""What a reply or forward looks like: subjects, recipients, threading, quoting.

Pure helpers for the composer; they build values, never messages (Odoo's
``ir.mail_server.build_email`` builds the message itself).
"""

import html
import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from lxml import etree
from lxml import html as lxml_html

from .addresses import format_address_list, parse_address_list
from .exceptions import MailEngineError

#: prefixes mail clients put before a reply's subject (Outlook in Russian
#: writes "Ответ:", The Bat! and old clients "RE[2]:")
_REPLY_RE = re.compile(r"^\s*(re|ответ|отв|aw|sv)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_FORWARD_RE = re.compile(r"^\s*(fwd?|пересл|переслать|wg|tr)\s*(\[\d+\])?\s*:", re.I)
#: lead token carried by the subject of mail sent from a lead
_LEAD_TOKEN_RE = re.compile(r"\[#L(\d+)\]")
#: the References header is capped like Thunderbird does: the first id
#: (the thread root) and the most recent ones
MAX_REFERENCES = 20


class HeaderInjectionError(MailEngineError):
    """A header value holds a line break: it would start a new header."""

    code = "header_injection"


def reply_subject(subject):
    """``Re: <subject>``, not doubled when the subject is already a reply.

    :param str subject: the original subject (may be empty)
    :return: the reply's subject
    """
    subject = (subject or "").strip()
    if _REPLY_RE.match(subject):
        return subject
    return f"Re: {subject}" if subject else "Re:"


def forward_subject(subject):
    """``Fwd: <subject>``, not doubled when the subject is already forwarded.

    :param str subject: the original subject (may be empty)
    :return: the forward's subject
    """
    subject = (subject or "").strip()
    if _FORWARD_RE.match(subject):
        return subject
    return f"Fwd: {subject}" if subject else "Fwd:"


def lead_token(lead_id):
    """The subject token of a lead, e.g. ``[#L42]``."""
    return f"[#L{int(lead_id)}]"


def add_lead_token(subject, lead_id):
    """Append the lead's token to a subject unless it already carries one.

    :param str subject: the subject
    :param int lead_id: the lead's id
    :return: the subject with the token
    """
    subject = (subject or "").rstrip()
    token = lead_token(lead_id)
    if token in subject:
        return subject
    return f"{subject} {token}".strip()


def find_lead_ids(subject):
    """Lead ids of the tokens found in a subject, in order.

    :param str subject: a subject
    :return: list of int
    """
    return [int(found) for found in _LEAD_TOKEN_RE.findall(subject or "")]


def references_for(parent_references, parent_message_id):
    """The References of a reply: the parent's References plus its Message-ID.

    :param str parent_references: the parent's References (ids separated by
        white space), may be empty
    :param str parent_message_id: the parent's Message-ID, may be empty
    :return: the header value (ids separated by a space), ``""`` if none
    """
    ids = []
    for mid in [*(parent_references or "").split(), parent_message_id or ""]:
        mid = mid.strip()
        if mid and mid not in ids:
            ids.append(mid)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return " ".join(ids)


def reply_recipients(
    email_from, reply_to, email_to, email_cc, own_addresses, reply_all=False
):
    """To and Cc of a reply to an incoming mail.

    Reply goes to Reply-To when set, else From. Reply all adds the other To
    recipients and keeps Cc, minus our own addresses and duplicates.

    :param str email_from: the original From
    :param str reply_to: the original Reply-To (may be empty)
    :param str email_to: the original To (address list)
    :param str email_cc: the original Cc (address list)
    :param own_addresses: normalized addresses of our own mailbox(es)
    :param bool reply_all: include the other recipients
    :return: tuple ``(to, cc)`` of formatted address lists
    """
    own = {a.lower() for a in own_addresses if a}
    seen = set(own)

    def keep(pairs):
        kept = []
        for name, address in pairs:
            if address not in seen:
                seen.add(address)
                kept.append((name, address))
        return kept

    to = keep(parse_address_list(reply_to or "") or parse_address_list(email_from))
    cc = []
    if reply_all:
        to += keep(parse_address_list(email_to or ""))
        cc = keep(parse_address_list(email_cc or ""))
    return format_address_list(to), format_address_list(cc)


def check_header_value(value, label=""):
    """Refuse a header value that holds CR, LF or NUL.

    :param str value: the value a user typed
    :param str label: the field's name, for the message
    :raise HeaderInjectionError: when the value would start a new header
    """
    if value and any(char in value for char in "\r\n\0"):
        raise HeaderInjectionError(
            f"line break in {label or 'a header'}", detail=repr(value[:200])
        )


def quote_html(body_html, intro):
    """The original mail quoted under a reply, as mail clients do.

    :param str body_html: the original's sanitized HTML body
    :param str intro: the line above the quote (plain text, escaped here),
        e.g. "On 1 May 2026, Ivan <ivan@x.ru> wrote:"
    :return: HTML
    """
    return (
        f"<p>{html.escape(intro)}</p>"
        '<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;'
        f'padding-left:1ex">{body_html or ""}</blockquote>'
    )


def forward_html(body_html, title, header_lines):
    """The original mail under a forward, with its main headers.

    :param str body_html: the original's sanitized HTML body
    :param str title: the separator line (translated by the caller)
    :param header_lines: ``(label, value)`` pairs (plain text, escaped here)
    :return: HTML
    """
    lines = "<br/>".join(
        f"<b>{html.escape(label)}:</b> {html.escape(value or '')}"
        for label, value in header_lines
    )
    title = html.escape(f"---------- {title} ----------")
    return f"<p>{title}<br/>{lines}</p>{body_html or ''}"


#: class of the block holding the account's signature in a composed body
SIGNATURE_CLASS = "o_crm_mail_signature"


def signature_block(signature_html):
    """The signature as a block the composer can find again.

    :param str signature_html: the account's (sanitized) signature
    :return: HTML, ``""`` without a signature
    """
    if (
        not signature_html
        or not lxml_html.fromstring(f"<div>{signature_html}</div>")
        .text_content()
        .strip()
    ):
        return ""
    return f'<div class="{SIGNATURE_CLASS}">-- <br/>{signature_html}</div>'


def set_signature(body_html, signature_html):
    """Put ``signature_html`` in place of the body's signature block.

    Without a block, the signature goes after the first paragraph (above a
    quoted original). Everything else the user typed stays as it was.

    :param str body_html: the body being composed
    :param str signature_html: the new signature (may be empty: removes it)
    :return: the new body
    """
    block = signature_block(signature_html)
    root = lxml_html.fragment_fromstring(
        body_html or "<p><br/></p>", create_parent="div"
    )
    old = root.xpath(
        f'//div[contains(concat(" ", @class, " "), " {SIGNATURE_CLASS} ")]'
    )
    new = lxml_html.fragment_fromstring(block) if block else None
    if old:
        parent = old[0].getparent()
        if new is None:
            tail = old[0].tail
            parent.remove(old[0])
            if tail:
                parent.text = (parent.text or "") + tail
        else:
            new.tail = old[0].tail
            parent.replace(old[0], new)
    elif new is not None:
        root.insert(1 if len(root) else 0, new)
    inner = (root.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
    return inner


def has_text(body_html):
    """Whether a composed body holds text the user wrote or quoted (the
    signature block alone is not a mail).

    :param str body_html: the body being composed
    :return: bool
    """
    root = lxml_html.fragment_fromstring(
        body_html or "<p><br/></p>", create_parent="div"
    )
    for block in root.xpath(
        f'//div[contains(concat(" ", @class, " "), " {SIGNATURE_CLASS} ")]'
    ):
        block.drop_tree()
    return bool(root.text_content().strip())


def test_message(address, token, subject):
    """The message that tests an account's round trip: from and to itself,
    found again by its Message-ID.

    :param str address: the account's address
    :param str token: the Message-ID's inside (unique)
    :param str subject: its subject (in the user's language)
    :return: bytes (RFC 5322)
    """
    message = EmailMessage(policy=SMTP)
    message["From"] = address
    message["To"] = address
    message["Subject"] = subject
    message["Message-ID"] = f"<{token}>"
    message["Date"] = formatdate(localtime=True)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(subject)
    return message.as_bytes()
