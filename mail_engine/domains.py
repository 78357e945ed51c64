"""Mail domains: public providers, and company names made from a domain."""

PUBLIC_DOMAINS = frozenset(
    """
    gmail.com googlemail.com mail.ru bk.ru list.ru inbox.ru internet.ru
    yandex.ru ya.ru yandex.com yandex.by yandex.kz yandex.ua narod.ru
    rambler.ru lenta.ru autorambler.ru myrambler.ru ro.ru
    outlook.com hotmail.com live.com msn.com icloud.com me.com mac.com
    yahoo.com aol.com proton.me protonmail.com gmx.de gmx.net web.de
    zoho.com mail.com ukr.net i.ua meta.ua tut.by qip.ru pochta.ru
    """.split()
)
#: two-level public suffixes seen in our customers' mail
_SUFFIXES2 = frozenset(
    "co.uk org.uk com.ru msk.ru spb.ru net.ru org.ru pp.ru com.ua kiev.ua "
    "com.kz org.kz com.by com.tr com.cn com.au co.jp".split()
)
_HOST_PREFIXES = ("www.", "mail.", "mx.", "smtp.", "email.")


def is_public_domain(domain, extra=()):
    """True for a public mail provider (no company behind the address).

    :param str domain: a mail domain
    :param extra: more public domains (e.g. from the settings)
    """
    domain = (domain or "").lower().strip().strip(".")
    extra = {d.lower().strip().lstrip("@") for d in extra if d.strip()}
    return domain in PUBLIC_DOMAINS or domain in extra


def company_name_from_domain(domain):
    """A readable company name for a domain: "mail.stroy-trest.com" -> "Stroy-Trest".

    :param str domain: a mail domain
    :return: the name (the domain itself when nothing better is found)
    """
    domain = (domain or "").lower().strip().strip(".")
    for prefix in _HOST_PREFIXES:
        if domain.startswith(prefix) and domain.count(".") > 1:
            domain = domain[len(prefix) :]
    labels = domain.split(".")
    if len(labels) >= 3 and ".".join(labels[-2:]) in _SUFFIXES2:
        core = labels[-3]
    elif len(labels) >= 2:
        core = labels[-2]
    else:
        core = domain
    return "-".join(part.capitalize() for part in core.split("-")) or domain
