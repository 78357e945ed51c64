"""ImapSession against the real Dovecot on loopback."""

import os
import time
from datetime import date, timedelta

import pytest

from mail_engine.exceptions import (
    AuthError,
    ConnectError,
    MailTimeoutError,
    ProtocolError,
)
from mail_engine.imap_session import (
    NOT_RETURNED,
    FolderInfo,
    ImapSession,
    decode_folder_name,
    default_fetch_folders,
    encode_folder_name,
    parse_list_response,
    uid_sequence,
    uid_set,
)
from mail_engine.sessions import check_incoming


def mail(subject, body="Hello"):
    return (
        f"From: Ivan <ivan@client.example>\r\nTo: sales@example.test\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{subject}.{time.time_ns()}@x>\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def flags_of(config, folder, uid):
    with ImapSession.open(config) as session:
        return next(iter(session.fetch(folder, [uid]))).flags


# ------------------------------------------------------------------ login


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_login_and_capabilities(incoming_config, security):
    with ImapSession.open(incoming_config("imap", security)) as session:
        assert {"UIDPLUS", "MOVE", "SPECIAL-USE"} <= set(session.capabilities)
        assert "INBOX" in [f.name for f in session.list_folders()]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_wrong_password(incoming_config, security):
    with pytest.raises(AuthError) as caught:
        ImapSession.open(incoming_config("imap", security, password="wrong"))
    assert caught.value.code == "auth"
    assert "AUTHENTICATIONFAILED" in caught.value.detail


def test_non_ascii_password(dovecot, incoming_config, mailbox):
    # imaplib's LOGIN is ASCII only: the session falls back to AUTHENTICATE
    dovecot.add_user(mailbox.login, "пароль-ü")
    with ImapSession.open(incoming_config(password="пароль-ü")) as session:
        assert session.list_folders()


def test_unknown_host(incoming_config):
    with pytest.raises(ConnectError) as caught:
        ImapSession.open(incoming_config(host="imap.no-such-host.invalid"))
    assert caught.value.code == "host_not_found"


def test_connection_refused(incoming_config, closed_port):
    with pytest.raises(ConnectError) as caught:
        ImapSession.open(incoming_config(port=closed_port))
    assert caught.value.code == "connection_refused"


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_timeout(incoming_config, silent_port, security):
    config = incoming_config("imap", security, port=silent_port, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(MailTimeoutError) as caught:
        ImapSession.open(config)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 5


def test_check_incoming_lists_folders(incoming_config):
    names = [f.name for f in check_incoming(incoming_config(), "imap")]
    assert {"INBOX", "Sent", "Drafts", "Trash", "Junk"} <= set(names)


# ------------------------------------------------------------------ folders


def test_list_folders_special_use_and_names(dovecot, mailbox, incoming_config):
    for name in ("Клиенты", "Клиенты/Архив 2024", "R&D Team", 'Say "hi"'):
        dovecot.create_folder(mailbox.login, name)
    with ImapSession.open(incoming_config()) as session:
        folders = {f.name: f for f in session.list_folders()}
    assert folders["Sent"].special_use == "\\Sent"
    assert folders["Drafts"].special_use == "\\Drafts"
    assert folders["Trash"].special_use == "\\Trash"
    assert folders["Junk"].special_use == "\\Junk"
    assert folders["INBOX"].special_use is None
    for name in ("Клиенты", "Клиенты/Архив 2024", "R&D Team", 'Say "hi"'):
        assert folders[name].selectable
        assert folders[name].delimiter == "/"
    assert "\\HasChildren" in folders["Клиенты"].flags
    fetched = default_fetch_folders(list(folders.values()))
    assert {"INBOX", "Sent", "Клиенты", "Клиенты/Архив 2024"} <= set(fetched)
    assert not {"Drafts", "Trash", "Junk"} & set(fetched)


def test_select_non_ascii_folder(dovecot, mailbox, incoming_config):
    dovecot.deliver(mailbox.login, mail("ru"), folder="Клиенты/Архив 2024")
    with ImapSession.open(incoming_config()) as session:
        validity, uidnext = session.select("Клиенты/Архив 2024")
        assert validity > 0 and uidnext == 2
        assert session.search_uids("Клиенты/Архив 2024") == (validity, [1])


def test_select_missing_folder(incoming_config):
    with ImapSession.open(incoming_config()) as session:
        with pytest.raises(ProtocolError):
            session.select("Does not exist")


def test_uidvalidity_changes_when_folder_is_recreated(
    dovecot, mailbox, incoming_config
):
    dovecot.deliver(mailbox.login, mail("a"), folder="Orders")
    with ImapSession.open(incoming_config()) as session:
        before, _uidnext = session.select("Orders")
    dovecot.delete_folder(mailbox.login, "Orders")
    dovecot.create_folder(mailbox.login, "Orders")
    dovecot.deliver(mailbox.login, mail("a"), folder="Orders")
    with ImapSession.open(incoming_config()) as session:
        after, _uidnext = session.select("Orders")
        assert session.search_uids("Orders") == (after, [1])
    assert after != before


def test_reset_uidvalidity_keeps_mail(dovecot, mailbox, incoming_config):
    for subject in ("a", "b"):
        dovecot.deliver(mailbox.login, mail(subject), folder="Orders")
    with ImapSession.open(incoming_config()) as session:
        before, _uidnext = session.select("Orders")
    dovecot.reset_uidvalidity(mailbox.login, "Orders")
    with ImapSession.open(incoming_config()) as session:
        after, uids = session.search_uids("Orders")
    assert after != before
    assert len(uids) == 2


# ------------------------------------------------------------------ mail


def test_search_above_uid(dovecot, mailbox, incoming_config):
    for subject in ("a", "b", "c"):
        dovecot.deliver(mailbox.login, mail(subject))
    with ImapSession.open(incoming_config()) as session:
        validity, uids = session.search_uids("INBOX")
        assert uids == [1, 2, 3]
        assert session.search_uids("INBOX", above_uid=1) == (validity, [2, 3])
        # "UID 4:*" matches UID 3 on the wire: it must be filtered out
        assert session.search_uids("INBOX", above_uid=3) == (validity, [])
        assert session.search_uids("INBOX", above_uid=99) == (validity, [])


def test_search_since(dovecot, mailbox, incoming_config):
    old = dovecot.deliver(mailbox.login, mail("old"))
    dovecot.deliver(mailbox.login, mail("new"))
    # Maildir: the internal date is the file's modification time
    ninety_days = time.time() - 90 * 86400
    os.utime(old, (ninety_days, ninety_days))
    since = date.today() - timedelta(days=30)
    with ImapSession.open(incoming_config()) as session:
        _validity, uids = session.search_uids("INBOX", since=since)
    assert uids == [2]


def test_fetch_streams_in_uid_order_without_seen(dovecot, mailbox, incoming_config):
    raws = [mail(f"m{i}", body=f"line\r\n.dot line {i}") for i in range(5)]
    for raw in raws:
        dovecot.deliver(mailbox.login, raw)
    config = incoming_config()
    with ImapSession.open(config) as session:
        validity, uids = session.search_uids("INBOX")
        fetched = list(session.fetch("INBOX", reversed(uids), batch_size=2))
    assert [m.uid for m in fetched] == uids
    assert [m.raw for m in fetched] == raws
    assert {m.uidvalidity for m in fetched} == {validity}
    assert all(m.folder == "INBOX" and "\\Seen" not in m.flags for m in fetched)
    # fetching did not mark anything as read on the server
    assert "\\Seen" not in flags_of(config, "INBOX", uids[0])


def test_fetch_reports_vanished_uids(dovecot, mailbox, incoming_config):
    """A UID asked for but not returned comes back with the reason: the
    caller must know, not see it skipped."""
    dovecot.deliver(mailbox.login, mail("only"))
    with ImapSession.open(incoming_config()) as session:
        fetched = list(session.fetch("INBOX", [1, 7, 8]))
        assert session.present_uids("INBOX", [1, 7, 8]) == [1]
    assert [(m.uid, m.raw is not None, m.error) for m in fetched] == [
        (1, True, None),
        (7, False, NOT_RETURNED),
        (8, False, NOT_RETURNED),
    ]


def test_fetch_isolates_a_message_the_server_drops_us_on(
    dovecot, mailbox, incoming_config
):
    """Dovecot closes the connection ("* BYE Internal error") when a
    message file is damaged: the batch is fetched again one by one, after
    logging in again, and only the damaged one comes back without a body."""
    paths = [dovecot.deliver(mailbox.login, mail(f"m{i}")) for i in range(5)]
    # longer than the size in its file name: Dovecot's read fails
    with open(paths[2], "ab") as damaged:
        damaged.write(b"x" * 500 + b"\r\n")
    with ImapSession.open(incoming_config()) as session:
        _validity, uids = session.search_uids("INBOX")
        fetched = list(session.fetch("INBOX", uids, batch_size=10))
        # the session works on after the reconnection
        assert session.present_uids("INBOX", uids) == uids
    assert [m.uid for m in fetched] == uids
    assert [m.raw is None for m in fetched] == [False, False, True, False, False]
    assert "connection dropped" in fetched[2].error


def test_seen_delivery_has_seen_flag(dovecot, mailbox, incoming_config):
    dovecot.deliver(mailbox.login, mail("read"), seen=True)
    assert "\\Seen" in flags_of(incoming_config(), "INBOX", 1)


def test_mark_seen(dovecot, mailbox, incoming_config):
    for subject in ("a", "b"):
        dovecot.deliver(mailbox.login, mail(subject))
    config = incoming_config()
    with ImapSession.open(config) as session:
        session.search_uids("INBOX")  # read-only selection first
        session.mark_seen("INBOX", [2])
        session.mark_seen("INBOX", [])
    assert "\\Seen" in flags_of(config, "INBOX", 2)
    assert "\\Seen" not in flags_of(config, "INBOX", 1)


def test_delete_expunges_only_given_uids(dovecot, mailbox, incoming_config):
    for subject in ("a", "b", "c"):
        dovecot.deliver(mailbox.login, mail(subject))
    with ImapSession.open(incoming_config()) as session:
        session.delete("INBOX", [1, 3])
        assert session.search_uids("INBOX")[1] == [2]
    assert dovecot.message_count(mailbox.login, "INBOX") == 1


@pytest.mark.parametrize("command", ["MOVE", "COPY"])
def test_move_tells_the_new_places(dovecot, mailbox, incoming_config, command):
    raws = [mail(subject) for subject in ("a", "b", "c")]
    for raw in raws:
        dovecot.deliver(mailbox.login, raw)
    with ImapSession.open(incoming_config()) as session:
        if command == "COPY":
            # a server without MOVE: COPY, then the originals deleted
            session._imap.capabilities = tuple(
                c for c in session.capabilities if c != "MOVE"
            )
        junk_validity, _next = session.select("Junk")
        validity, mapping = session.move("INBOX", [3, 1], "Junk")
        assert validity == junk_validity
        assert sorted(mapping) == [1, 3]
        assert session.search_uids("INBOX")[1] == [2]
        moved = {m.uid: m.raw for m in session.fetch("Junk", sorted(mapping.values()))}
    assert moved[mapping[1]] == raws[0]
    assert moved[mapping[3]] == raws[2]
    assert dovecot.message_count(mailbox.login, "Junk") == 2
    assert dovecot.message_count(mailbox.login, "INBOX") == 1


def test_append_to_sent_returns_uid(dovecot, mailbox, incoming_config):
    raw = mail("sent copy")
    with ImapSession.open(incoming_config()) as session:
        uid = session.append("Sent", raw)
        assert uid == 1
        [message] = session.fetch("Sent", [uid])
    assert message.raw == raw
    assert "\\Seen" in message.flags
    assert dovecot.message_count(mailbox.login, "Sent") == 1


def test_close_twice(incoming_config):
    session = ImapSession.open(incoming_config())
    session.close()
    session.close()


# ------------------------------------------------------------------ pure helpers


def test_uid_sequence_keeps_the_order():
    assert uid_sequence("5,1:3") == [5, 1, 2, 3]
    assert uid_sequence("7:6") == [6, 7]


def test_modified_utf7_roundtrip():
    for name in ("Клиенты", "R&D", "Entwürfe/Ä&Ö", "plain", "日本語 メール", "&"):
        assert decode_folder_name(encode_folder_name(name)) == name
    assert encode_folder_name("Клиенты") == "&BBoEOwQ4BDUEPQRCBEs-"
    assert encode_folder_name("R&D") == "R&-D"
    assert decode_folder_name("broken&AAA") == "broken&AAA"


def test_parse_list_response_quoted_literal_and_nil():
    data = [
        b'(\\HasNoChildren \\Sent) "/" "Sent Items"',
        (b'(\\HasNoChildren) "/" {10}', b'Say "hi"!!'),
        b"",
        b'(\\Noselect \\HasChildren) "/" "[Gmail]"',
        b"(\\HasNoChildren) NIL Flat",
        b'(\\HasNoChildren) "." INBOX.&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-',
        b'(\\HasNoChildren) "\\\\" "Back\\\\slash \\"q\\""',
    ]
    folders = parse_list_response(data)
    assert [f.name for f in folders] == [
        "Sent Items",
        'Say "hi"!!',
        "[Gmail]",
        "Flat",
        "INBOX.Отправленные",
        'Back\\slash "q"',
    ]
    assert folders[0].special_use == "\\Sent"
    assert not folders[2].selectable
    assert folders[3].delimiter == ""
    assert folders[4].special_use == "\\Sent"  # by name, below INBOX
    assert folders[5].delimiter == "\\"


def _folder(name, *flags, delimiter="/", selectable=True):
    return FolderInfo(name, delimiter, flags, None, selectable)


def test_default_fetch_folders_gmail_and_names():
    gmail = [
        _folder("INBOX"),
        _folder("[Gmail]", "\\Noselect", selectable=False),
        _folder("[Gmail]/All Mail"),
        _folder("[Gmail]/Starred"),
        _folder("[Gmail]/Important"),
        _folder("[Gmail]/Sent Mail"),
        _folder("[Gmail]/Spam"),
        _folder("[Gmail]/Bin"),
        _folder("[Gmail]/Drafts"),
        _folder("Clients/Important"),  # a user's folder: fetched
    ]
    assert default_fetch_folders(gmail) == [
        "INBOX",
        "[Gmail]/Sent Mail",
        "Clients/Important",
    ]
    russian = [
        _folder("INBOX"),
        _folder("Отправленные"),
        _folder("Черновики"),
        _folder("Корзина"),
        _folder("Спам"),
        _folder("Deleted Items"),
        _folder("Клиенты"),
    ]
    assert default_fetch_folders(russian) == ["INBOX", "Отправленные", "Клиенты"]
    flagged = [FolderInfo("Archive", "/", ("\\All",), "\\All", True)]
    assert default_fetch_folders(flagged) == []


def test_uid_set():
    assert uid_set([5, 1, 2, 3, 9, 10, 3]) == "1:3,5,9:10"
    assert uid_set([7]) == "7"


# ------------------------------------------------------------------ IDLE


def test_idle_wakes_on_new_mail(dovecot, incoming_config, mailbox):
    """A mail delivered while the session waits in IDLE is reported within
    seconds, and fetched by the same session right after."""
    import threading

    config = incoming_config("imap", "ssl")
    with ImapSession.open(config) as session:
        assert session.can_idle
        _validity, before = session.search_uids("INBOX")
        timer = threading.Timer(0.5, dovecot.deliver, (mailbox.login, mail("idle")))
        timer.start()
        started = time.monotonic()
        changes = session.idle("INBOX", timeout=60)
        waited = time.monotonic() - started
        timer.join()
        assert any(change.endswith(b"EXISTS") for change in changes), changes
        assert waited < 30, waited
        _validity, after = session.search_uids("INBOX")
        assert len(after) == len(before) + 1


def test_idle_times_out_and_the_session_goes_on(dovecot, incoming_config, mailbox):
    config = incoming_config("imap", "starttls")
    with ImapSession.open(config) as session:
        started = time.monotonic()
        assert session.idle("INBOX", timeout=1.5) == []
        assert 1.4 < time.monotonic() - started < 15
        # the session answers commands after IDLE
        dovecot.deliver(mailbox.login, mail("after idle"))
        _validity, uids = session.search_uids("INBOX")
        assert uids
        # a change reported before IDLE began is not lost
        dovecot.deliver(mailbox.login, mail("between"))
        changes = session.idle("INBOX", timeout=20)
        assert any(change.endswith(b"EXISTS") for change in changes), changes


def test_changes_since_reports_flags_and_expunged(dovecot, incoming_config, mailbox):
    """QRESYNC (RFC 7162): one command tells which messages another client
    re-flagged and which it deleted since the last known mod-sequence."""
    config = incoming_config("imap", "ssl")
    for number in range(3):
        dovecot.deliver(mailbox.login, mail(f"sync{number}"))
    with ImapSession.open(config) as session:
        assert session.enable_sync() == "qresync"
        session.select("INBOX")
        known = session.highest_modseq
        assert known
        with ImapSession.open(config) as desktop:
            desktop.set_flag("INBOX", [2], "\\Seen")
            desktop.delete("INBOX", [3])
        session.select("INBOX")
        assert session.highest_modseq > known
        changed, vanished = session.changes_since("INBOX", known, 3)
        assert "\\Seen" in changed[2]
        assert 1 not in changed
        assert vanished == {3}
        # and back: the flag removed is a change too
        known = session.highest_modseq
        session.set_flag("INBOX", [2], "\\Seen", add=False)
        changed, vanished = session.changes_since("INBOX", known, 3)
        assert "\\Seen" not in changed[2]
        assert vanished == set()
        assert session.search("INBOX", "UID 1:3 SEEN") == []
        assert session.search("INBOX", "UID 1:3") == [1, 2]


def test_parse_uid_set():
    from mail_engine.imap_session import parse_uid_set

    assert parse_uid_set("1:3,7") == {1, 2, 3, 7}
    assert parse_uid_set("9:7") == {7, 8, 9}
    assert parse_uid_set("") == set()
