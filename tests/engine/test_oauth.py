"""OAuth2 logins (SASL XOAUTH2 and OAUTHBEARER) against the real Dovecot and
the SMTP peer, both checking the tokens of the local OAuth2 provider."""

import json
import urllib.request

import pytest

from mail_engine.exceptions import AuthError, ConfigError
from mail_engine.imap_session import ImapSession
from mail_engine.pop3_session import Pop3Session
from mail_engine.sessions import ServerConfig, check_incoming
from mail_engine.smtp_session import check_smtp, open_smtp, send_raw

RAW = b"From: a@example.test\r\nTo: b@example.com\r\nSubject: Hi\r\n\r\nBody\r\n"


@pytest.fixture
def token(dovecot, mailbox):
    """A live access token of the test's mailbox user."""
    return dovecot.oauth_store.issue(mailbox.login)[0]


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_login_with_a_token(incoming_config, token, mechanism, security):
    config = incoming_config("imap", security, password=token, auth=mechanism)
    with ImapSession.open(config) as session:
        assert "INBOX" in [f.name for f in session.list_folders()]


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_pop3_login_with_a_token(dovecot, mailbox, incoming_config, token, mechanism):
    dovecot.deliver(mailbox.login, RAW)
    config = incoming_config("pop3", password=token, auth=mechanism)
    with Pop3Session.open(config) as session:
        assert list(session.uidl().values()) == [1]
    assert check_incoming(config, "pop3") == []


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_refused_tokens(dovecot, mailbox, incoming_config, token, protocol):
    store = dovecot.oauth_store
    other = store.issue("someone-else@example.test")[0]
    expired = store.issue(mailbox.login)[0]
    store.expire(expired)
    revoked = store.issue(mailbox.login)[0]
    store.revoke(revoked)
    for bad in (other, expired, revoked, "not-a-token"):
        config = incoming_config(protocol, password=bad, auth="xoauth2")
        with pytest.raises(AuthError):
            check_incoming(config, protocol)
    # the good one still works after the refusals (nothing left half-done)
    assert isinstance(
        check_incoming(
            incoming_config(protocol, password=token, auth="xoauth2"), protocol
        ),
        list,
    )


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_smtp_send_with_a_token(smtp_config, smtp_peer, dovecot, mechanism):
    access = dovecot.oauth_store.issue("seller@example.test")[0]
    config = smtp_config(login="seller@example.test", password=access, auth=mechanism)
    smtp = open_smtp(config)
    try:
        send_raw(smtp, "seller@example.test", ["b@example.com"], RAW)
        smtp.quit()
    finally:
        smtp.close()
    assert smtp_peer.received()[-1]["data"].endswith(b"Body\r\n")
    assert "seller@example.test" in smtp_peer.oauth_logins


def test_smtp_login_in_utf8(smtp_config, smtp_peer, dovecot):
    """An address on an IDN domain logs in as itself (smtplib's own AUTH
    would fail to encode it)."""
    login = "продажи@пример.рф"
    access = dovecot.oauth_store.issue(login)[0]
    check_smtp(smtp_config(login=login, password=access, auth="oauthbearer"))
    assert login in smtp_peer.oauth_logins


def test_smtp_refuses_a_revoked_token(smtp_config, dovecot):
    access = dovecot.oauth_store.issue("seller@example.test")[0]
    dovecot.oauth_store.revoke(access)
    config = smtp_config(login="seller@example.test", password=access, auth="xoauth2")
    with pytest.raises(AuthError) as caught:
        check_smtp(config)
    assert "535" in caught.value.detail


def test_config_knows_only_its_login_methods():
    with pytest.raises(ConfigError):
        ServerConfig("127.0.0.1", 993, "ssl", "u", "t", auth="cram-md5")
    config = ServerConfig("127.0.0.1", 993, "ssl", "u@x.test", "tok", auth="xoauth2")
    assert "tok" not in repr(config)
    assert config.oauth_response() == "user=u@x.test\1auth=Bearer tok\1\1"
    bearer = ServerConfig("h.test", 993, "ssl", "u@x.test", "tok", auth="oauthbearer")
    assert bearer.oauth_response() == (
        "n,a=u@x.test,\1host=h.test\1port=993\1auth=Bearer tok\1\1"
    )


def test_the_local_provider_grants_and_refuses(dovecot):
    """The stand-in for Google & co.: codes once, refresh until revoked."""
    store = dovecot.oauth_store

    def post(path, **form):
        data = "&".join(f"{k}={v}" for k, v in form.items()).encode()
        request = urllib.request.Request(dovecot.oauth_url + path, data=data)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    code = store.code("grant@example.test")
    status, body = post("/token", grant_type="authorization_code", code=code)
    assert status == 200 and body["refresh_token"] and body["expires_in"] > 0
    assert post("/token", grant_type="authorization_code", code=code)[0] == 400
    status, again = post(
        "/token", grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    assert status == 200 and again["access_token"] != body["access_token"]
    assert post("/introspect", token=again["access_token"])[1] == {
        "active": True,
        "username": "grant@example.test",
    }
    post("/revoke", token=body["refresh_token"])
    status, refused = post(
        "/token", grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    assert status == 400 and refused["error"] == "invalid_grant"
