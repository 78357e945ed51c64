"""Pop3Session against the real Dovecot on loopback."""

import pytest

from mail_engine.exceptions import AuthError, ConnectError, MailTimeoutError
from mail_engine.pop3_session import Pop3Session
from mail_engine.sessions import check_incoming


def mail(subject, body="Hello"):
    return (
        f"From: ivan@client.example\r\nTo: sales@example.test\r\n"
        f"Subject: {subject}\r\n\r\n{body}\r\n"
    ).encode()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_login(incoming_config, security):
    with Pop3Session.open(incoming_config("pop3", security)) as session:
        assert session.uidl() == {}


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_wrong_password(incoming_config, security):
    with pytest.raises(AuthError) as caught:
        Pop3Session.open(incoming_config("pop3", security, password="wrong"))
    assert "[AUTH]" in caught.value.detail


def test_check_incoming_pop3(incoming_config):
    assert check_incoming(incoming_config("pop3"), "pop3") == []


def test_connection_refused(incoming_config, closed_port):
    with pytest.raises(ConnectError) as caught:
        Pop3Session.open(incoming_config("pop3", port=closed_port))
    assert caught.value.code == "connection_refused"


def test_timeout(incoming_config, silent_port):
    config = incoming_config("pop3", "starttls", port=silent_port, timeout=0.3)
    with pytest.raises(MailTimeoutError):
        Pop3Session.open(config)


def test_uidl_and_retrieve(dovecot, mailbox, incoming_config):
    # a line starting with a dot is byte-stuffed on the wire; a long line
    # exceeds poplib's own 2048-byte limit
    raws = [
        mail("one", body=".starts with a dot\r\n..two dots\r\n."),
        mail("two", body="x" * 5000),
    ]
    for raw in raws:
        dovecot.deliver(mailbox.login, raw)
    with Pop3Session.open(incoming_config("pop3")) as session:
        uidls = session.uidl()
        assert sorted(uidls.values()) == [1, 2]
        assert len(set(uidls)) == 2
        assert [session.retrieve(n) for n in (1, 2)] == raws
    assert dovecot.message_count(mailbox.login, "INBOX") == 2


def test_delete_is_committed_by_quit(dovecot, mailbox, incoming_config):
    for subject in ("a", "b", "c"):
        dovecot.deliver(mailbox.login, mail(subject))
    config = incoming_config("pop3")
    with Pop3Session.open(config) as session:
        before = session.uidl()
        session.delete(2)
        # until QUIT the mail is still on the server
        assert dovecot.message_count(mailbox.login, "INBOX") == 3
    assert dovecot.message_count(mailbox.login, "INBOX") == 2
    with Pop3Session.open(config) as session:
        after = session.uidl()
    gone = {u for u, n in before.items() if n == 2}
    assert set(after) == set(before) - gone
