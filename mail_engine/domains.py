"""Mail domains: public providers, and company names made from a domain.

A sender at a public provider (``gmail.com``, ``mail.ru``...) says nothing
about their company, so no company partner is made from such a domain.
"""

PUBLIC_DOMAINS = frozenset(
    """
    gmail.com googlemail.com
    mail.ru bk.ru list.ru inbox.ru internet.ru
    yandex.ru ya.ru yandex.com yandex.by yandex.kz yandex.ua narod.ru
    rambler.ru lenta.ru autorambler.ru myrambler.ru ro.ru
    qip.ru pochta.ru
    outlook.com hotmail.com live.com msn.com
    icloud.com me.com mac.com
    yahoo.com aol.com
    proton.me protonmail.com
    gmx.de gmx.net gmx.com web.de
    zoho.com mail.com
    ukr.net i.ua meta.ua bigmir.net tut.by
    """.split()
)
#: two-level public suffixes (``romashka.com.ru`` is the company "Romashka");
#: not the whole Public Suffix List, only those seen in our customers' mail
_SUFFIXES2 = frozenset(
    """
    co.uk org.uk ac.uk
    com.ru net.ru org.ru pp.ru msk.ru spb.ru nnov.ru
    com.ua net.ua org.ua kiev.ua in.ua
    com.kz org.kz com.by
    com.tr com.cn com.au com.br co.jp co.il
    """.split()
)
#: host names in front of the mail domain, not part of the company name
_HOST_PREFIXES = ("www.", "mail.", "mx.", "smtp.", "email.")


def _clean(domain):
    """Lowercase a domain; take the domain of an address."""
    domain = (domain or "").strip().lower()
    return domain.rpartition("@")[2].strip(".")


def is_public_domain(domain, extra=()):
    """Is the domain a public mail provider (no company behind the address)?

    :param str domain: a mail domain (an address is accepted too)
    :param extra: more public domains, e.g. from the settings: an iterable,
        or one string separated by spaces, commas or newlines; a leading
        ``@`` is ignored
    :return: bool
    """
    domain = _clean(domain)
    if not domain:
        return False
    if domain in PUBLIC_DOMAINS:
        return True
    if isinstance(extra, str):
        extra = extra.replace(",", " ").replace(";", " ").split()
    return domain in {_clean(item) for item in extra if item}


def _readable(label):
    """Decode an IDNA label (``xn--...``) when possible."""
    if label.startswith("xn--"):
        try:
            return label.encode("ascii").decode("idna")
        except UnicodeError:
            return label
    return label


def company_name_from_domain(domain):
    """A readable company name for a domain.

    ``romashka.ru`` gives "Romashka", ``mail.stroy-trest.com``
    "Stroy-Trest", ``www.romashka.com.ru`` "Romashka".

    :param str domain: a mail domain (an address is accepted too)
    :return: the name; ``""`` for an empty domain
    """
    domain = _clean(domain)
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
    core = _readable(core)
    return "-".join(part.capitalize() for part in core.split("-"))
