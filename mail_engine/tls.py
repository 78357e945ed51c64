"""TLS contexts for the mail sessions: verified by default, TLS 1.2 at least."""

import ssl

from .exceptions import ConfigError


def make_ssl_context(verify=True, ca_pem=None):
    """The client TLS context of every IMAP, POP3 and SMTP connection.

    With ``verify`` the server must present a certificate for its host name,
    signed by a CA of the system store or by ``ca_pem`` (a private CA, e.g.
    a company mail server's). ``verify=False`` turns every check off; it is
    meant only for an administrator who explicitly chose it.

    :param bool verify: check the certificate chain and the host name
    :param str ca_pem: extra trusted CA certificate(s), PEM text
    :return: an :class:`ssl.SSLContext` for client connections
    :raise ConfigError: when ``ca_pem`` is not a usable PEM certificate
    """
    if verify:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if ca_pem and ca_pem.strip():
            try:
                context.load_verify_locations(cadata=ca_pem)
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(
                    "the CA certificate is not valid PEM", detail=str(exc)
                ) from exc
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # order matters: check_hostname must be off before CERT_NONE
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
