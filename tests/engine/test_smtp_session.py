"""SMTP sessions against the loopback SMTP peer."""

import pytest

from mail_engine.exceptions import (
    AuthError,
    MailTimeoutError,
    ProtocolError,
    TLSError,
)
from mail_engine.smtp_session import check_smtp, open_smtp, send_raw

RAW = (
    b"From: sender@example.test\r\nTo: client@example.com\r\n"
    b"Subject: Offer\r\n\r\n.leading dot survives\r\nBody\r\n"
)


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_check_smtp(smtp_config, smtp_peer, security):
    before = len(smtp_peer.received())
    check_smtp(smtp_config(security))
    assert len(smtp_peer.received()) == before, "a check sends nothing"


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_wrong_password(smtp_config, security):
    with pytest.raises(AuthError) as caught:
        check_smtp(smtp_config(security, password="wrong"))
    assert "535" in caught.value.detail


def test_untrusted_certificate(smtp_config, foreign_ca_pem):
    with pytest.raises(TLSError) as caught:
        check_smtp(smtp_config("starttls", ca_pem=foreign_ca_pem))
    assert caught.value.code == "certificate"


def test_timeout(smtp_config, silent_port):
    with pytest.raises(MailTimeoutError):
        check_smtp(smtp_config(port=silent_port, timeout=0.3))


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_send_arrives_at_peer(smtp_config, smtp_peer, security):
    config = smtp_config(security)
    smtp = open_smtp(config)
    try:
        refused = send_raw(smtp, config.login, ["client@example.com"], RAW)
    finally:
        smtp.quit()
    assert refused == {}
    last = smtp_peer.received()[-1]
    assert last["data"] == RAW
    assert last["mail_from"] == config.login
    assert last["rcpt_tos"] == ["client@example.com"]
    assert last["port"] == config.port
    assert any(path.read_bytes() == RAW for path in smtp_peer.outbox.iterdir())


def test_refused_recipient(smtp_config, smtp_peer):
    [bad] = smtp_peer.refuse_rcpt
    config = smtp_config()
    smtp = open_smtp(config)
    try:
        with pytest.raises(ProtocolError) as caught:
            send_raw(smtp, config.login, [bad], RAW)
        assert "550" in caught.value.detail and bad in caught.value.detail
        # one good recipient: the mail goes, the refusal is reported
        refused = send_raw(smtp, config.login, [bad, "ok@example.com"], RAW)
    finally:
        smtp.quit()
    assert list(refused) == [bad]
    assert smtp_peer.received()[-1]["rcpt_tos"] == ["ok@example.com"]
