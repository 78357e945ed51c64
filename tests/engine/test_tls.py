"""TLS contexts, certificate checks, STARTTLS refusal and error mapping."""

import imaplib
import poplib
import smtplib
import socket
import ssl

import pytest

from mail_engine.exceptions import (
    AuthError,
    ConfigError,
    ConnectError,
    MailTimeoutError,
    ProtocolError,
    TLSError,
)
from mail_engine.imap_session import ImapSession
from mail_engine.pop3_session import Pop3Session
from mail_engine.sessions import ServerConfig, translate_errors
from mail_engine.smtp_session import check_smtp
from mail_engine.tls import make_ssl_context

OPENERS = {"imap": ImapSession.open, "pop3": Pop3Session.open, "smtp": check_smtp}


def test_verified_context_defaults():
    context = make_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_unverified_context_only_on_request():
    context = make_ssl_context(verify=False)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_invalid_ca_pem():
    with pytest.raises(ConfigError):
        make_ssl_context(ca_pem="-----BEGIN CERTIFICATE-----\nnot base64\n")


@pytest.mark.parametrize("security", ["none", "plain", "", "SSL", None])
def test_plaintext_and_unknown_security_refused(security):
    with pytest.raises(ConfigError) as caught:
        ServerConfig("127.0.0.1", 143, security, "user", "secret")
    assert caught.value.code == "config"


def test_config_hides_secrets_from_repr():
    config = ServerConfig("127.0.0.1", 993, "ssl", "user", "hunter2", ca_pem="PEM")
    assert "hunter2" not in repr(config)
    with pytest.raises(ConfigError):
        ServerConfig("127.0.0.1", 993, "ssl", "user", "x", timeout=0)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_untrusted_certificate(incoming_config, foreign_ca_pem, protocol):
    for security in ("ssl", "starttls"):
        config = incoming_config(protocol, security, ca_pem=foreign_ca_pem)
        with pytest.raises(TLSError) as caught:
            OPENERS[protocol](config)
        assert caught.value.code == "certificate"
        assert "certificate verify failed" in caught.value.detail


def test_system_store_alone_does_not_trust_private_ca(incoming_config):
    with pytest.raises(TLSError) as caught:
        ImapSession.open(incoming_config(ca_pem=None))
    assert caught.value.code == "certificate"


def test_verify_off_connects_without_ca(incoming_config, foreign_ca_pem):
    config = incoming_config(verify=False, ca_pem=foreign_ca_pem)
    with ImapSession.open(config) as session:
        assert session.list_folders()
    with Pop3Session.open(incoming_config("pop3", "starttls", verify=False)):
        pass


def test_host_name_is_checked(incoming_config):
    # the certificate names localhost and 127.0.0.1: both verify
    with ImapSession.open(incoming_config(host="localhost")) as session:
        assert session.list_folders()


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_starttls_not_offered(no_starttls_server, protocol):
    config = ServerConfig(
        "127.0.0.1", no_starttls_server(protocol), "starttls", "u", "p", timeout=5
    )
    with pytest.raises(TLSError) as caught:
        OPENERS[protocol](config)
    assert caught.value.code == "tls_not_offered"


def test_tls_handshake_with_plain_server(no_starttls_server):
    # implicit TLS against a server that talks plain text
    config = ServerConfig("127.0.0.1", no_starttls_server("imap"), "ssl", "u", "p")
    with pytest.raises(TLSError) as caught:
        ImapSession.open(config)
    assert caught.value.code == "tls"


@pytest.mark.parametrize(
    ("error", "login", "expected", "code"),
    [
        (
            socket.gaierror(-2, "Name or service not known"),
            False,
            ConnectError,
            "host_not_found",
        ),
        (
            ConnectionRefusedError(111, "refused"),
            False,
            ConnectError,
            "connection_refused",
        ),
        (TimeoutError("timed out"), False, MailTimeoutError, "timeout"),
        (ssl.SSLCertVerificationError("verify failed"), False, TLSError, "certificate"),
        (ssl.SSLError("wrong version"), False, TLSError, "tls"),
        (OSError(101, "Network is unreachable"), False, ConnectError, "network"),
        (imaplib.IMAP4.error("[AUTHENTICATIONFAILED]"), True, AuthError, "auth"),
        (imaplib.IMAP4.error("BAD command"), False, ProtocolError, "protocol"),
        (imaplib.IMAP4.abort("socket error: EOF"), False, ConnectError, "network"),
        (poplib.error_proto("-ERR [AUTH] failed"), True, AuthError, "auth"),
        (poplib.error_proto("-ERR no such message"), False, ProtocolError, "protocol"),
        (smtplib.SMTPAuthenticationError(535, b"no"), False, AuthError, "auth"),
        (smtplib.SMTPRecipientsRefused({}), False, ProtocolError, "protocol"),
        (smtplib.SMTPServerDisconnected("gone"), False, ConnectError, "network"),
    ],
)
def test_translate_errors(error, login, expected, code):
    with pytest.raises(expected) as caught:
        with translate_errors("mail.example:993", login=login):
            raise error
    assert caught.value.code == code
    assert caught.value.detail == str(error)
    assert caught.value.__cause__ is error
    assert "mail.example:993" in str(caught.value)
