"""The test harness itself: Dovecot and the SMTP peer start, stop, clean up."""

import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from devtools.certs import make_ca_and_cert
from devtools.dovecot import Dovecot, _children, _pid_alive, utf7_encode
from devtools.fault_proxy import FaultProxy, uid_set_contains
from devtools.ports import port_open
from devtools.smtp_peer import SmtpPeer
from mail_engine.exceptions import ConnectError, ProtocolError
from mail_engine.imap_session import ImapSession, encode_folder_name
from mail_engine.pop3_session import Pop3Session
from mail_engine.sessions import ServerConfig

REPO = Path(__file__).resolve().parents[2]
PORTS = ("imaps_port", "imap_port", "pop3s_port", "pop3_port")


def pgrep(pattern):
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return found.stdout.split()


def imap_login(description, login, password):
    config = ServerConfig(
        description["host"],
        description["imaps_port"],
        "ssl",
        login,
        password,
        timeout=10,
        ca_pem=description["ca_pem"],
    )
    with ImapSession.open(config) as session:
        return [f.name for f in session.list_folders()]


def wait_for(predicate, seconds=15):
    """Poll ``predicate`` until it is true; its last value otherwise."""
    deadline = time.monotonic() + seconds
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_start_stop_twice_leaves_nothing(tmp_path):
    workdir = tmp_path / "dc"
    dovecot = Dovecot(workdir)
    try:
        for _round in range(2):
            dovecot.start()
            dovecot.start()  # already running: no second instance
            pid = dovecot.pid
            # the master spawns its children (log, config, anvil, login...)
            # on its own time: wait for them rather than race them
            assert wait_for(lambda pid=pid: len(_children(pid)) >= 3)
            processes = [pid, *_children(pid)]
            assert all(port_open(getattr(dovecot, name)) for name in PORTS)
            assert pgrep(str(workdir))
            dovecot.stop()
            assert not any(_pid_alive(p) for p in processes)
            assert not any(port_open(getattr(dovecot, name)) for name in PORTS)
            assert pgrep(str(workdir)) == []
            assert dovecot.pid is None
        dovecot.stop()  # idempotent
    finally:
        dovecot.stop()  # whatever failed above, nothing stays running


def test_restart_keeps_ports_and_mail(tmp_path):
    dovecot = Dovecot(tmp_path / "dc")
    with dovecot:
        dovecot.add_user("bob@example.test", "pw")
        dovecot.deliver("bob@example.test", b"Subject: kept\r\n\r\nx\r\n")
        ports = [getattr(dovecot, name) for name in PORTS]
        old_pid = dovecot.pid
        dovecot.restart()
        assert dovecot.pid != old_pid
        assert [getattr(dovecot, name) for name in PORTS] == ports
        assert "INBOX" in imap_login(dovecot.to_env(), "bob@example.test", "pw")
        assert dovecot.message_count("bob@example.test", "INBOX") == 1
    assert not _pid_alive(old_pid) and dovecot.pid is None


def test_failed_start_reports_the_log(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        dovecot = Dovecot(tmp_path / "dc", ports={"imaps_port": busy.getsockname()[1]})
        with pytest.raises(RuntimeError) as caught:
            dovecot.start()
    assert "Address already in use" in str(caught.value)
    assert dovecot.pid is None
    assert pgrep(str(tmp_path / "dc")) == []


def test_from_env_drives_the_running_instance(dovecot, mailbox):
    description = json.loads(json.dumps(dovecot.to_env()))
    other = Dovecot.from_env(description)
    assert other.pid == dovecot.pid
    assert other.ca_pem == dovecot.ca_pem
    other.deliver(mailbox.login, b"Subject: via env\r\n\r\nx\r\n", folder="Orders")
    assert dovecot.message_count(mailbox.login, "Orders") == 1
    assert "Orders" in imap_login(description, mailbox.login, mailbox.password)


def test_deliver_layout(dovecot, mailbox):
    new = dovecot.deliver(mailbox.login, b"Subject: a\r\n\r\nx\r\n")
    seen = dovecot.deliver(mailbox.login, b"Subject: b\r\n\r\nx\r\n", seen=True)
    nested = dovecot.deliver(
        mailbox.login, b"Subject: c\r\n\r\n", folder="Клиенты/Архив"
    )
    assert new.parent.name == "new"
    assert seen.parent.name == "cur" and seen.name.endswith(":2,S")
    # Maildir++ with modified UTF-7 names, as Dovecot itself writes them
    assert nested.parent.parent.name == "." + ".".join(
        encode_folder_name(part) for part in ("Клиенты", "Архив")
    )
    assert utf7_encode("R&D Отдел") == encode_folder_name("R&D Отдел")
    assert not list(new.parent.parent.joinpath("tmp").iterdir())
    assert dovecot.message_count(mailbox.login, "INBOX") == 2
    assert dovecot.message_count(mailbox.login, "Nope") == 0
    with pytest.raises(ValueError):
        dovecot.delete_folder(mailbox.login, "INBOX")


def test_two_certificate_authorities_are_unrelated(tmp_path):
    first = make_ca_and_cert(tmp_path / "one")
    second = make_ca_and_cert(tmp_path / "two")
    assert first["ca_pem"] != second["ca_pem"]
    text = subprocess.run(
        ["openssl", "x509", "-in", first["cert_path"], "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    ok = ["openssl", "verify", "-CAfile", first["ca_path"], first["cert_path"]]
    assert subprocess.run(ok, capture_output=True).returncode == 0
    bad = ["openssl", "verify", "-CAfile", second["ca_path"], first["cert_path"]]
    assert subprocess.run(bad, capture_output=True).returncode != 0


def test_smtp_peer_start_stop(tmp_path):
    peer = SmtpPeer(tmp_path / "smtp", login="l", password="p")
    try:
        for _round in range(2):
            peer.start()
            assert port_open(peer.smtps_port) and port_open(peer.starttls_port)
            context = ssl.create_default_context(cadata=peer.ca_pem)
            with context.wrap_socket(
                socket.create_connection((peer.host, peer.smtps_port)),
                server_hostname="localhost",
            ) as tls:
                assert tls.recv(100).startswith(b"220")
            peer.stop()
            assert not port_open(peer.smtps_port)
            assert not port_open(peer.starttls_port)
        peer.stop()
    finally:
        peer.stop()


def _run_cli(args, ready_key):
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(proc.stderr.read())
    description = json.loads(line)
    assert ready_key in description
    return proc, description


def test_dovecot_cli(tmp_path):
    workdir = tmp_path / "cli"
    proc, description = _run_cli(
        [
            "devtools.dovecot",
            "--workdir",
            str(workdir),
            "--user",
            "demo@example.com:secret",
        ],
        "imaps_port",
    )
    try:
        assert "INBOX" in imap_login(description, "demo@example.com", "secret")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert not port_open(description["imaps_port"])
    assert not _pid_alive(description["pid"])
    assert pgrep(str(workdir)) == []


def test_smtp_peer_cli(tmp_path):
    proc, description = _run_cli(
        [
            "devtools.smtp_peer",
            "--workdir",
            str(tmp_path / "smtp"),
            "--login",
            "l",
            "--password",
            "p",
        ],
        "smtps_port",
    )
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0
    assert not port_open(description["smtps_port"])
    assert Path(description["outbox"]).is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_dovecot_runs_as_a_normal_user():
    # as a normal user Dovecot runs everything as that user, without chroot
    python = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    if not python or not shutil.which("runuser"):
        pytest.skip("runuser or a system python3 is missing")
    nobody = pwd.getpwnam("nobody")
    workdir = Path(tempfile.mkdtemp(prefix="crm_mail_nonroot_"))
    os.chown(workdir, nobody.pw_uid, nobody.pw_gid)
    script = (
        "import json, sys\n"
        "from devtools.dovecot import Dovecot\n"
        f"d = Dovecot({str(workdir / 'dc')!r})\n"
        "d.start()\n"
        "d.add_user('n@example.test', 'pw')\n"
        "d.deliver('n@example.test', b'Subject: x\\r\\n\\r\\nx\\r\\n')\n"
        "print(json.dumps(d.to_env()), flush=True)\n"
        "sys.stdin.read()\n"
        "d.stop()\n"
    )
    proc = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", python, "-c", script],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/sbin:/usr/bin:/bin"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(proc.stderr.read())
        description = json.loads(line)
        owners = {
            Path(f"/proc/{pid}").stat().st_uid
            for pid in [description["pid"], *_children(description["pid"])]
        }
        assert owners == {nobody.pw_uid}
        assert "INBOX" in imap_login(description, "n@example.test", "pw")
    finally:
        proc.communicate("", timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    assert proc.returncode == 0
    assert not _pid_alive(description["pid"])
    assert not port_open(description["imaps_port"])


#: RFC 3501's own example UIDVALIDITY: above 2**31, so a signed 32-bit
#: column would not hold it
UIDVALIDITY = 3857529045
#: 295 UIDs below the unsigned 32-bit ceiling
NEXT_UID = 4294967000
MAILS = [b"Subject: %d\r\n\r\nbody %d\r\n" % (n, n) for n in range(3)]


def read_folder(config, folder):
    """What a new login sees in ``folder``.

    :return: ``(uidvalidity, uidnext, uids, raw messages in UID order)``
    """
    with ImapSession.open(config) as session:
        uidvalidity, uidnext = session.select(folder)
        same, uids = session.search_uids(folder)
        assert same == uidvalidity
        raws = [message.raw for message in session.fetch(folder, uids)]
    return uidvalidity, uidnext, uids, raws


@pytest.mark.parametrize("folder", ["INBOX", "Клиенты/Архив"])
def test_set_uid_state_above_2_31(dovecot, mailbox, incoming_config, folder):
    dovecot.set_uid_state(mailbox.login, folder, UIDVALIDITY, NEXT_UID)
    for raw in MAILS:
        dovecot.deliver(mailbox.login, raw, folder=folder)
    uids = [NEXT_UID, NEXT_UID + 1, NEXT_UID + 2]
    assert read_folder(incoming_config(), folder) == (
        UIDVALIDITY,
        NEXT_UID + 3,
        uids,
        MAILS,
    )


@pytest.mark.parametrize("folder", ["INBOX", "Orders"])
def test_set_uid_state_numbers_delivered_mail(
    dovecot, mailbox, incoming_config, folder
):
    # delivered, never fetched: Dovecot has not numbered these yet
    for raw in MAILS[:2]:
        dovecot.deliver(mailbox.login, raw, folder=folder)
    dovecot.set_uid_state(mailbox.login, folder, UIDVALIDITY, NEXT_UID)
    dovecot.deliver(mailbox.login, MAILS[2], folder=folder)
    _uidvalidity, _uidnext, uids, raws = read_folder(incoming_config(), folder)
    assert uids == [NEXT_UID, NEXT_UID + 1, NEXT_UID + 2]
    assert raws == MAILS  # numbered in delivery order


def test_set_uid_state_renumbers_an_opened_folder(dovecot, mailbox, incoming_config):
    for raw in MAILS[:2]:
        dovecot.deliver(mailbox.login, raw, folder="Orders")
    with ImapSession.open(incoming_config()) as live:
        # Dovecot numbers the mail and writes its index for the folder
        old_uidvalidity, old_uids = live.search_uids("Orders")
        assert old_uids == [1, 2]
        dovecot.set_uid_state(mailbox.login, "Orders", UIDVALIDITY, NEXT_UID)
        # the documented limit: a session with the folder selected is cut
        # off, as by a real server that renumbers a folder under a client
        with pytest.raises(ConnectError):
            live.search_uids("Orders")
    dovecot.deliver(mailbox.login, MAILS[2], folder="Orders")
    assert old_uidvalidity != UIDVALIDITY
    assert read_folder(incoming_config(), "Orders") == (
        UIDVALIDITY,
        NEXT_UID + 3,
        [NEXT_UID, NEXT_UID + 1, NEXT_UID + 2],
        MAILS,
    )


def test_set_uid_state_limits(dovecot, mailbox, incoming_config):
    # 0 is no UID; Dovecot's imap process dies rather than hand out 2**32 - 1
    for uidvalidity, next_uid in ((0, 1), (2**32, 1), (1, 0), (1, 2**32 - 1)):
        with pytest.raises(ValueError):
            dovecot.set_uid_state(mailbox.login, "INBOX", uidvalidity, next_uid)
    dovecot.set_uid_state(mailbox.login, "INBOX", 2**32 - 1, 2**32 - 2)
    dovecot.deliver(mailbox.login, MAILS[0])
    assert read_folder(incoming_config(), "INBOX") == (
        2**32 - 1,
        2**32 - 1,
        [2**32 - 2],
        MAILS[:1],
    )


# ------------------------------------------------------------ fault proxy


@pytest.fixture
def fault_proxy(dovecot):
    """``fault_proxy(protocol, **options)`` -> a started FaultProxy in front
    of the session's Dovecot; every one is stopped after the test."""
    proxies = []

    def make(protocol="imap", **options):
        port = dovecot.imaps_port if protocol == "imap" else dovecot.pop3s_port
        proxy = FaultProxy(port, dovecot.certs, protocol=protocol, **options)
        proxies.append(proxy)
        proxy.start()
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.stop()


def proxy_config(proxy, dovecot, mailbox):
    # the proxy serves Dovecot's certificate: the same ca_pem is trusted
    return ServerConfig(
        proxy.host,
        proxy.port,
        "ssl",
        mailbox.login,
        mailbox.password,
        timeout=10,
        ca_pem=dovecot.ca_pem,
    )


def proxy_threads(proxy):
    prefix = f"fault-proxy:{proxy.port}:"
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_uid_set_contains():
    assert uid_set_contains("2", {2})
    assert uid_set_contains("1:3", {2}) and uid_set_contains("3:1", {2})
    assert uid_set_contains("1,3:5", {4}) and not uid_set_contains("1,3:5", {2})
    # "*" is the highest UID, unknown to the proxy: taken as unbounded
    assert uid_set_contains("4:*", {9}) and not uid_set_contains("4:*", {2})
    assert not uid_set_contains("*", {2})
    assert not uid_set_contains("1:x", {1})  # invalid: the server says BAD
    assert not uid_set_contains("1:3", set())


def test_fault_proxy_refuses_imap_uid_fetch(dovecot, mailbox, fault_proxy):
    delivered = {b"Subject: m%d\r\n\r\nbody %d\r\n" % (n, n) for n in (1, 2, 3)}
    for raw in sorted(delivered):
        dovecot.deliver(mailbox.login, raw)
    proxy = fault_proxy("imap", refuse_uids={2})
    config = proxy_config(proxy, dovecot, mailbox)
    with ImapSession.open(config) as session:
        session.select("INBOX")
        typ, data = session._imap.uid("FETCH", "1:3", "(UID BODY.PEEK[])")
        assert (typ, data) == ("NO", [b"Some messages could not be FETCHed (Failure)"])
        # the refusal took the place of Dovecot's answer: the session goes on
        typ, data = session._imap.uid("FETCH", "1", "(UID BODY.PEEK[])")
        assert typ == "OK" and data[0][1] in delivered
        # APPEND sends the mail as a literal: relayed unread, so this line
        # inside it is not taken for a command (or the server would wait)
        appended = b"Subject: lit\r\n\r\na9 UID FETCH 2 (BODY[])\r\n"
        uid = session.append("INBOX", appended)
        typ, data = session._imap.uid("FETCH", str(uid), "(UID BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == appended
    assert proxy.refused == [("UID FETCH", "1:3")]
    # the sets are read at every command: a new connection sees the change
    proxy.refuse_uids.clear()
    proxy.refuse_uids.add(uid)
    with ImapSession.open(config) as session:
        session.select("INBOX")
        assert session._imap.uid("FETCH", "1:3", "(UID BODY.PEEK[])")[0] == "OK"
        assert session._imap.uid("FETCH", "2:*", "(UID BODY.PEEK[])")[0] == "NO"
    assert proxy.refused[-1] == ("UID FETCH", "2:*")


def test_fault_proxy_refuses_pop3_retr(dovecot, mailbox, fault_proxy):
    for n in (1, 2):
        dovecot.deliver(mailbox.login, b"Subject: p%d\r\n\r\nbody %d\r\n" % (n, n))
    proxy = fault_proxy("pop3", refuse_retr={2}, refusal="[SYS/PERM] broken")
    with Pop3Session.open(proxy_config(proxy, dovecot, mailbox)) as session:
        assert sorted(session.uidl().values()) == [1, 2]
        with pytest.raises(ProtocolError) as caught:
            session.retrieve(2)
        assert "-ERR [SYS/PERM] broken" in caught.value.detail
        assert session.retrieve(1).startswith(b"Subject: p")
        assert len(session.uidl()) == 2
    assert proxy.refused == [("RETR", "2")]


def test_fault_proxy_stop_leaves_nothing(dovecot, mailbox, fault_proxy):
    proxy = fault_proxy("imap")
    config = proxy_config(proxy, dovecot, mailbox)
    session = ImapSession.open(config)  # left open: stop() must cut it
    try:
        assert session.select("INBOX")
        # the accept thread and both threads of the open connection (before
        # port_open(), whose connection gets a thread of its own)
        assert len(proxy_threads(proxy)) == 3
        assert port_open(proxy.port)
        proxy.stop()
        assert not port_open(proxy.port)
        assert proxy_threads(proxy) == []
        with pytest.raises(ConnectError):
            session.list_folders()
        proxy.stop()  # idempotent
        # a restart keeps the port and relays again
        proxy.start()
        with ImapSession.open(config) as again:
            assert "INBOX" in [f.name for f in again.list_folders()]
    finally:
        session.close()
        proxy.stop()
    assert proxy_threads(proxy) == []
