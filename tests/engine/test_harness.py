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
import time
from pathlib import Path

import pytest

from devtools.certs import make_ca_and_cert
from devtools.dovecot import Dovecot, _children, _pid_alive, utf7_encode
from devtools.ports import port_open
from devtools.smtp_peer import SmtpPeer
from mail_engine.imap_session import ImapSession, encode_folder_name
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
