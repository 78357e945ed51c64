"""SMTP over verified TLS: connect, authenticate, check, send."""

import base64
import smtplib

from .exceptions import ProtocolError, TLSError
from .sessions import oauth_responder, translate_errors
from .tls import make_ssl_context


def open_smtp(config):
    """An authenticated SMTP connection (SMTPS, or SMTP + STARTTLS).

    The caller sends with it and closes it (``quit()``).

    :param ServerConfig config: the server
    :return: a logged-in :class:`smtplib.SMTP`
    :raise TLSError: ``tls_not_offered`` when STARTTLS is missing
    :raise MailEngineError: any other failure (see ``translate_errors``)
    """
    context = make_ssl_context(config.verify, config.ca_pem)
    smtp = None
    try:
        with translate_errors(config.server):
            if config.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise TLSError(
                        f"STARTTLS not offered ({config.server})",
                        code="tls_not_offered",
                        detail=str(smtp.ehlo_resp or b"", "utf-8", "replace"),
                    )
                smtp.starttls(context=context)
            smtp.ehlo()
        with translate_errors(config.server, login=True):
            if config.sasl_mechanism:
                _authenticate(smtp, config)
            else:
                _login(smtp, config.login, config.password)
    except BaseException:
        if smtp is not None:
            smtp.close()
        raise
    return smtp


def _login(smtp, login, password):
    if (login + password).isascii():
        smtp.login(login, password)
        return
    # smtplib encodes credentials as ASCII only: AUTH PLAIN in UTF-8 by hand
    secret = base64.b64encode(f"\0{login}\0{password}".encode()).decode()
    code, response = smtp.docmd("AUTH", "PLAIN " + secret)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


def _authenticate(smtp, config):
    """AUTH with an OAuth2 mechanism and an initial response, in UTF-8
    (smtplib's ``auth`` encodes it as ASCII: an IDN login would fail)."""
    respond = oauth_responder(config)

    def encoded(text):
        return base64.b64encode(text.encode()).decode()

    code, response = smtp.docmd("AUTH", f"{config.sasl_mechanism} {encoded(respond())}")
    if code == 334:  # the error challenge: answer it, the refusal follows
        code, response = smtp.docmd(encoded(respond()))
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


def check_smtp(config):
    """Connect, EHLO, authenticate and QUIT; nothing is sent.

    :param ServerConfig config: the server
    :raise MailEngineError: when the server cannot be used
    """
    smtp = open_smtp(config)
    try:
        with translate_errors(config.server):
            smtp.quit()
    finally:
        smtp.close()


def send_raw(smtp, mail_from, rcpt_tos, raw, server=""):
    """Send a ready message on an open connection.

    :param smtplib.SMTP smtp: from :func:`open_smtp`
    :param str mail_from: envelope sender
    :param list rcpt_tos: envelope recipients
    :param bytes raw: the RFC 5322 message
    :param str server: ``host:port`` for messages
    :return: dict of the recipients refused while others were accepted,
        ``{address: (code, reply)}``
    :raise ProtocolError: when every recipient, the sender or the data is
        refused (``detail`` holds the server's answers)
    """
    with translate_errors(server):
        try:
            return smtp.sendmail(mail_from, list(rcpt_tos), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(
                f"{address}: {code} {reply.decode('utf-8', 'replace')}"
                for address, (code, reply) in exc.recipients.items()
            )
            raise ProtocolError(
                f"recipients refused ({server})", detail=refused
            ) from exc
