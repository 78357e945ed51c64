"""Server settings of well-known mail providers.

Typing an address fills host, port and security from here; everything stays
editable. ``note`` tells the user what the provider needs besides the
password (an app password or OAuth).
"""

from dataclasses import dataclass

from .addresses import domain_of


@dataclass(frozen=True, slots=True)
class Preset:
    """Incoming and outgoing settings of one provider."""

    key: str
    imap_host: str
    smtp_host: str
    pop3_host: str = ""
    imap_port: int = 993
    pop3_port: int = 995
    smtp_port: int = 465
    smtp_security: str = "ssl"
    #: 'app_password', 'oauth' or '' (plain password works)
    note: str = ""
    #: its sign-in through Odoo's own OAuth2 flows: 'gmail', 'outlook', or ''
    #: (other providers are ``crm.mail.oauth.provider`` records, found by
    #: their mail domains)
    oauth: str = ""


_GMAIL = Preset(
    "gmail",
    "imap.gmail.com",
    "smtp.gmail.com",
    "pop.gmail.com",
    note="app_password",
    oauth="gmail",
)
_YANDEX = Preset(
    "yandex", "imap.yandex.ru", "smtp.yandex.ru", "pop.yandex.ru", note="app_password"
)
_MAILRU = Preset(
    "mailru", "imap.mail.ru", "smtp.mail.ru", "pop.mail.ru", note="app_password"
)
_RAMBLER = Preset("rambler", "imap.rambler.ru", "smtp.rambler.ru", "pop.rambler.ru")
_OUTLOOK = Preset(
    "outlook",
    "outlook.office365.com",
    "smtp.office365.com",
    "outlook.office365.com",
    smtp_port=587,
    smtp_security="starttls",
    note="oauth",
    oauth="outlook",
)
_ICLOUD = Preset(
    "icloud",
    "imap.mail.me.com",
    "smtp.mail.me.com",
    smtp_port=587,
    smtp_security="starttls",
    note="app_password",
)
_ZOHO = Preset("zoho", "imap.zoho.com", "smtp.zoho.com", "pop.zoho.com")

PRESETS_BY_DOMAIN = {
    "gmail.com": _GMAIL,
    "googlemail.com": _GMAIL,
    "yandex.ru": _YANDEX,
    "ya.ru": _YANDEX,
    "yandex.com": _YANDEX,
    "mail.ru": _MAILRU,
    "bk.ru": _MAILRU,
    "list.ru": _MAILRU,
    "inbox.ru": _MAILRU,
    "internet.ru": _MAILRU,
    "rambler.ru": _RAMBLER,
    "outlook.com": _OUTLOOK,
    "hotmail.com": _OUTLOOK,
    "live.com": _OUTLOOK,
    "office365.com": _OUTLOOK,
    "icloud.com": _ICLOUD,
    "me.com": _ICLOUD,
    "mac.com": _ICLOUD,
    "zoho.com": _ZOHO,
    "zohomail.com": _ZOHO,
}


def preset_for(address):
    """Return the provider preset for an e-mail address.

    :param str address: an e-mail address, possibly with a display name
    :return: the :class:`Preset`, or None for an unknown provider
    """
    domain = domain_of(address or "")
    return PRESETS_BY_DOMAIN.get(domain) if domain else None
