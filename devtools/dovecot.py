"""A private Dovecot (IMAP and POP3 over TLS) on loopback ports.

Everything lives in one work directory: its own ``dovecot.conf`` (the system
configuration in /etc/dovecot is never read), sockets, state, log, the
passwd-files and the Maildir++ mailboxes. Tests seed mail by writing Maildir
files directly (:meth:`Dovecot.deliver`), which is fast and needs no SMTP.

Run as root, Dovecot refuses to give mail processes UID 0, so the mailboxes
belong to ``nobody`` and the mail processes are chrooted into the mail
folder: they then need no access to the (often private, 0700) parents of the
work directory. Run as any other user, every process runs as that user.

``imap_port`` and ``pop3_port`` offer STARTTLS with ``ssl = required``, but
Dovecot counts a client whose address equals its own as secured, which on
loopback is every client: a plaintext LOGIN would be accepted there. The
engine never sends one (it has no plaintext mode), so tests are unaffected.

CLI (for the demo)::

    python -m devtools.dovecot --workdir DIR --user demo@example.com:secret
"""

import argparse
import base64
import contextlib
import grp
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

from .certs import make_ca_and_cert
from .oauth_provider import TokenStore
from .ports import LOOPBACK, free_port, port_open

#: mail user of a root-run Dovecot (it refuses UID 0 for mail processes)
ROOT_MAIL_USER = "nobody"
#: special-use folders every mailbox gets (created at the first login):
#: special use -> folder name (a server may name them anything)
SPECIAL_FOLDERS = {"Sent": "Sent", "Drafts": "Drafts", "Trash": "Trash", "Junk": "Junk"}
#: seconds to wait for the listeners to open or close
WAIT_SECONDS = 15
#: seconds Dovecot's processes get to exit on their own when stopped
STOP_GRACE = 0.3
PORT_NAMES = ("imaps_port", "imap_port", "pop3s_port", "pop3_port")

# file names of deliveries made in this process: unique with the PID
_deliver_counter = itertools.count(1)
_deliver_lock = threading.Lock()


def utf7_encode(name):
    """Encode a folder name in IMAP modified UTF-7 (RFC 3501 5.1.3).

    Dovecot names Maildir++ folders on disk in this encoding.

    :param str name: the folder name
    :return: the encoded name (ASCII)
    """
    out, pending = [], []

    def flush():
        if pending:
            data = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(data).decode().rstrip("=")
            out.append("&" + b64.replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def dovecot_binary():
    """Path of the ``dovecot`` binary (/usr/sbin is not on a user's PATH).

    :return: the path as a string
    """
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin")
    if not found:
        raise RuntimeError("dovecot not found: apt-get install dovecot-imapd")
    return found


def _pid_alive(pid):
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _children(pid):
    """PIDs whose parent is ``pid`` (Dovecot's login, auth, imap... processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[-1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Dovecot:
    """One Dovecot instance: ``start()``, ``add_user()``, ``deliver()``, ``stop()``.

    :param workdir: folder holding everything of this instance
    :param dict ports: optional fixed ports (keys as in ``PORT_NAMES``)
    """

    host = LOOPBACK

    def __init__(self, workdir, ports=None, special_folders=None, list_index=False):
        """
        :param dict special_folders: names of special-use folders, e.g.
            ``{"Sent": "Sent Items"}`` (the others keep their default names)
        :param bool list_index: keep mailbox list indexes, which Dovecot's
            NOTIFY (RFC 5465) needs; then mail must arrive through Dovecot
            (APPEND), not written behind its back by :meth:`deliver`
        """
        self.workdir = Path(workdir).resolve()
        self.list_index = list_index
        self.special_folders = {**SPECIAL_FOLDERS, **(special_folders or {})}
        ports = ports or {}
        for name in PORT_NAMES:
            setattr(self, name, int(ports.get(name) or free_port()))
        # the OAuth2 provider whose tokens Dovecot accepts (XOAUTH2, OAUTHBEARER)
        self.oauth_port = int(ports.get("oauth_port") or free_port())
        self.oauth_store = TokenStore(self.workdir / "oauth" / "tokens.json")
        self.oauth_pid_path = self.workdir / "oauth" / "provider.pid"
        self.oauth_conf_path = self.workdir / "oauth" / "dovecot-oauth2.conf"
        self.conf_path = self.workdir / "dovecot.conf"
        self.base_dir = self.workdir / "run"
        self.state_dir = self.workdir / "state"
        self.log_path = self.workdir / "dovecot.log"
        self.stderr_path = self.workdir / "dovecot.stderr"
        self.users_dir = self.workdir / "users"
        self.mail_dir = self.workdir / "mail"
        self.cert_dir = self.workdir / "certs"
        self.ca_path = str(self.cert_dir / "ca.pem")
        self.root_mode = os.geteuid() == 0
        if self.root_mode:
            entry = pwd.getpwnam(ROOT_MAIL_USER)
            self.mail_uid, self.mail_gid = entry.pw_uid, entry.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        self._proc = None

    # ------------------------------------------------------------ describe

    @property
    def ca_pem(self):
        """PEM text of the CA that signed the server certificate."""
        return Path(self.ca_path).read_text()

    @property
    def certs(self):
        """Paths of the CA and the server certificate (made by ``start()``).

        :return: dict with ``ca_path``, ``cert_path`` and ``key_path``
        """
        return {
            "ca_path": self.ca_path,
            "cert_path": str(self.cert_dir / "server.pem"),
            "key_path": str(self.cert_dir / "server.key"),
        }

    @property
    def pid(self):
        """PID of the Dovecot master process, or None when not running."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        try:
            pid = int((self.base_dir / "master.pid").read_text().strip())
            # a stale pid file (killed master) may name someone else's process
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if str(self.conf_path).encode() not in cmdline:
            return None
        return pid if _pid_alive(pid) else None

    def to_env(self):
        """A JSON-serializable description, for :meth:`from_env` elsewhere.

        :return: dict with the work directory, host, ports and CA
        """
        return {
            "workdir": str(self.workdir),
            "host": self.host,
            **{name: getattr(self, name) for name in PORT_NAMES},
            "oauth_port": self.oauth_port,
            "ca_path": self.ca_path,
            "ca_pem": self.ca_pem,
            "pid": self.pid,
        }

    @classmethod
    def from_env(cls, description):
        """The running instance described by :meth:`to_env` (nothing started).

        :param dict description: the output of :meth:`to_env`
        :return: a :class:`Dovecot` pointing at that instance
        """
        return cls(description["workdir"], ports=description)

    @property
    def oauth_url(self):
        """Base URL of the local OAuth2 provider (``/authorize``, ``/token``...)."""
        return f"http://{self.host}:{self.oauth_port}"

    @property
    def oauth_pid(self):
        """PID of the OAuth2 provider process, or None when not running."""
        try:
            pid = int(self.oauth_pid_path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if str(self.oauth_store.path).encode() not in cmdline:
            return None
        return pid if _pid_alive(pid) else None

    def log_tail(self, lines=40):
        """The end of Dovecot's log and of its standard error.

        :param int lines: how many lines of each
        :return: the text
        """
        parts = []
        for path in (self.log_path, self.stderr_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    # ------------------------------------------------------------ lifecycle

    def start(self):
        """Write the configuration, start Dovecot and wait for its ports.

        :raise RuntimeError: when Dovecot does not come up (with the log tail)
        """
        if self.pid:
            return
        self._prepare()
        self._start_oauth_provider()
        with open(self.stderr_path, "wb") as stderr:
            # -F: stay in the foreground, so we own (and reap) the master;
            # a new session keeps a terminal's Ctrl-C from killing it early
            self._proc = subprocess.Popen(
                [dovecot_binary(), "-F", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + WAIT_SECONDS
        # open ports are not a working server: the master binds them before
        # its children (config, auth, login) exist. Ready is when a client
        # gets a greeting over TLS on both implicit-TLS ports.
        while not (
            all(port_open(getattr(self, n)) for n in PORT_NAMES)
            and self._greets(self.imaps_port, b"* OK")
            and self._greets(self.pop3s_port, b"+OK")
        ):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                # not stop(): a port may be busy because someone else has it
                self._terminate()
                self._stop_oauth_provider()
                raise RuntimeError(f"Dovecot did not start:\n{tail}")
            time.sleep(0.05)

    def _start_oauth_provider(self):
        if self.oauth_pid:
            return
        script = Path(__file__).with_name("oauth_provider.py")
        with open(self.workdir / "oauth" / "provider.log", "wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(script),
                    "--port",
                    str(self.oauth_port),
                    "--store",
                    str(self.oauth_store.path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.oauth_pid_path.write_text(str(proc.pid))
        deadline = time.monotonic() + WAIT_SECONDS
        while not port_open(self.oauth_port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the OAuth2 provider did not start")
            time.sleep(0.05)

    def _stop_oauth_provider(self):
        pid = self.oauth_pid
        if pid:
            os.kill(pid, signal.SIGTERM)
            if not self._wait_gone([pid], WAIT_SECONDS):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        self.oauth_pid_path.unlink(missing_ok=True)

    def _greets(self, port, greeting):
        """Whether the TLS listener on ``port`` answers with ``greeting``."""
        context = ssl.create_default_context(cafile=self.ca_path)
        try:
            with socket.create_connection((self.host, port), timeout=2) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    return tls.recv(64).startswith(greeting)
        except (OSError, ssl.SSLError):
            return False

    def stop(self):
        """Stop Dovecot (by the PID of its master) and wait for its ports to close.

        Safe to call when it is not running.
        """
        self._terminate()
        self._stop_oauth_provider()
        deadline = time.monotonic() + WAIT_SECONDS
        while any(port_open(getattr(self, n)) for n in PORT_NAMES):
            if time.monotonic() > deadline:
                raise RuntimeError("Dovecot's ports are still open after stop")
            time.sleep(0.05)

    def _terminate(self):
        """End the master and all its processes; reap the master if ours."""
        pid = self.pid
        if pid:
            group = [pid, *_children(pid)]
            os.kill(pid, signal.SIGTERM)
            # children holding a client connection outlive the master for
            # ~10 s (and keep the listening sockets): signal them too; the
            # master is the leader of their process group (start_new_session)
            for signum in (signal.SIGTERM, signal.SIGKILL):
                if self._wait_gone(group, STOP_GRACE):
                    break
                # the whole group may be gone already
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signum)
            else:
                self._wait_gone(group, WAIT_SECONDS)
        if self._proc is not None:
            self._proc.wait()
            self._proc = None

    def _wait_gone(self, pids, seconds):
        """Wait for ``pids`` to exit; False if some still run after ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._proc is not None:
                self._proc.poll()  # reap the master as soon as it exits
            if not any(_pid_alive(pid) for pid in pids):
                return True
            time.sleep(0.02)
        return False

    def restart(self):
        """Stop, then start again on the same ports with the same mailboxes."""
        self.stop()
        self.start()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ config

    def _prepare(self):
        for path in (self.workdir, self.base_dir, self.state_dir, self.mail_dir):
            path.mkdir(parents=True, exist_ok=True)
        if not Path(self.ca_path).exists():
            make_ca_and_cert(self.cert_dir)
        self.users_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.mail_dir)
        (self.workdir / "oauth").mkdir(exist_ok=True)
        self.oauth_conf_path.write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.oauth_url}/introspect\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        self.conf_path.write_text(self._config())

    def _config(self):
        me = pwd.getpwuid(os.getuid()).pw_name
        certs = self.certs
        if self.root_mode:
            # chroot into the mail folder: mail processes (as nobody) then
            # need no access to the work directory's parents
            users = (
                "first_valid_uid = 1\n"
                "default_login_user = dovenull\n"
                "default_internal_user = dovecot\n"
                f"mail_chroot = {self.mail_dir}\n"
                f"valid_chroot_dirs = {self.mail_dir}\n"
                # the passwd-files may sit below folders only root can enter
                "service auth {\n  user = root\n}\n"
            )
            home = "/%u"
            chroot = ""  # keep the default chroots of login and anvil
        else:
            # without root nothing can chroot (login, anvil) or change users
            users = (
                f"first_valid_uid = {os.getuid()}\n"
                f"default_login_user = {me}\n"
                f"default_internal_user = {me}\n"
                f"default_internal_group = {grp.getgrgid(os.getgid()).gr_name}\n"
            )
            home = f"{self.mail_dir}/%u"
            chroot = "  chroot =\n"
        mailboxes = "".join(
            f'  mailbox "{name}" {{\n    special_use = \\{use}\n'
            "    auto = subscribe\n  }\n"
            for use, name in self.special_folders.items()
        )
        return f"""# written by devtools/dovecot.py: the system config is not read
base_dir = {self.base_dir}
state_dir = {self.state_dir}
instance_name = crm-mail-{zlib.crc32(str(self.workdir).encode()):08x}
log_path = {self.log_path}
protocols = imap pop3
listen = {self.host}
{users}
ssl = required
ssl_cert = <{certs["cert_path"]}
ssl_key = <{certs["key_path"]}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login xoauth2 oauthbearer
# tests try wrong passwords on purpose: no failure delay, and no growing
# per-IP penalty (a listener with mode 0 is not created: no anvil-auth-penalty)
auth_failure_delay = 0
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# one passwd-file per user: Dovecot re-reads a changed passwd-file at most
# once a second, so a user added right after a login to another one would be
# unknown for up to a second; a new file is read at its first lookup
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
# OAuth2 logins: the token is checked at the local provider (introspection)
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.oauth_conf_path}
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={home}
}}
mail_location = maildir:~/Maildir
# tests write Maildir files behind Dovecot's back: no cached folder list
# (unless NOTIFY is tested: it needs the list index)
mailbox_list_index = {"yes" if self.list_index else "no"}
mail_max_userip_connections = 100
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
service imap-login {{
{chroot}  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
{chroot}  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = {self.pop3s_port}
    ssl = yes
  }}
}}
"""

    # ------------------------------------------------------------ mailboxes

    def _chown(self, path):
        # a root-run instance keeps its mail as nobody (see the module doc)
        if os.geteuid() == 0:
            os.chown(path, self.mail_uid, self.mail_gid)

    def _home(self, login):
        if "/" in login or login.startswith("."):
            raise ValueError(f"unusable login {login!r}")
        return self.mail_dir / login

    def _folder_path(self, login, folder):
        maildir = self._home(login) / "Maildir"
        if folder.upper() == "INBOX":
            return maildir
        # Maildir++: ".Parent.Child", names in modified UTF-7
        parts = folder.split("/")
        if any(not p or "." in p for p in parts):
            raise ValueError(f"unusable folder name {folder!r}")
        return maildir / ("." + ".".join(utf7_encode(p) for p in parts))

    def _ensure(self, path):
        """Create ``path`` and its missing parents, owned by the mail user."""
        missing = []
        while not path.exists() and path != self.mail_dir:
            missing.append(path)
            path = path.parent
        for folder in reversed(missing):
            folder.mkdir(mode=0o700)
            self._chown(folder)

    def add_user(self, login, password):
        """Add a mailbox user and create its home.

        Changing the password of a user who logged in less than a second ago
        may take that second to be seen (Dovecot's passwd-file reload).

        :param str login: the login, e.g. ``alice@example.test``
        :param str password: the password (no ``:`` or line breaks)
        """
        if any(c in login + password for c in ":\r\n"):
            raise ValueError("login and password may not contain ':' or newlines")
        home = self._home(login)
        self.users_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.users_dir / login
        # write then rename: Dovecot never reads a half-written file
        tmp = path.with_name(f".{login}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(f"{login}:{{PLAIN}}{password}\n")
        tmp.chmod(0o600)
        tmp.replace(path)
        self._ensure(home)

    def create_folder(self, login, name):
        """Create a folder (Maildir++ directory) in a mailbox; no-op if present.

        :param str login: the mailbox user
        :param str name: folder name, ``/`` separating levels
        :return: the folder's directory
        """
        path = self._folder_path(login, name)
        for sub in ("", "cur", "new", "tmp"):
            self._ensure(path / sub if sub else path)
        if path.name != "Maildir":
            marker = path / "maildirfolder"
            if not marker.exists():
                marker.touch()
                self._chown(marker)
        return path

    def delete_folder(self, login, name):
        """Delete a folder with its mail, indexes and ``dovecot-uidlist``.

        Creating it again later gives it a new UIDVALIDITY.

        :param str login: the mailbox user
        :param str name: folder name (not INBOX)
        """
        path = self._folder_path(login, name)
        if path.name == "Maildir":
            raise ValueError("INBOX cannot be deleted")
        shutil.rmtree(path, ignore_errors=True)

    def reset_uidvalidity(self, login, name):
        """Renumber a folder: same mails, new UIDVALIDITY and UIDs.

        :param str login: the mailbox user
        :param str name: folder name (not INBOX)
        """
        path = self._folder_path(login, name)
        keep = self.workdir / f"keep.{os.getpid()}.{time.monotonic_ns()}"
        keep.mkdir()
        for sub in ("new", "cur"):
            (keep / sub).mkdir()
            for mail in (path / sub).iterdir() if (path / sub).is_dir() else ():
                mail.rename(keep / sub / mail.name)
        self.delete_folder(login, name)
        self.create_folder(login, name)
        for sub in ("new", "cur"):
            for mail in (keep / sub).iterdir():
                mail.rename(path / sub / mail.name)
        shutil.rmtree(keep)

    def set_uid_state(self, login, folder, uidvalidity, next_uid):
        """Give a folder the UIDVALIDITY and next UID of the test's choice.

        Works on INBOX and on other folders, creates a missing folder, and
        works whether Dovecot runs or not. Every mail already in the folder
        gets a new UID from ``next_uid`` upwards, in delivery order, and so do
        later deliveries, even when Dovecot had numbered the mail already.

        Limits (Dovecot 2.3, Maildir):

        - a session that has the folder selected is disconnected at its next
          command (``BYE IMAP session state is inconsistent, please
          relogin``), as a real server does when UIDVALIDITY changes under
          it; a new login sees the new numbers;
        - Dovecot never hands out UID 4294967295: when a new mail would need
          it, the ``imap`` process dies (assertion failure) at every SELECT of
          the folder. So at most ``4294967295 - next_uid`` mails fit.

        :param str login: the mailbox user
        :param str folder: folder name, ``/`` separating levels
        :param int uidvalidity: 1 to 4294967295 (unsigned 32-bit, RFC 3501)
        :param int next_uid: UID of the next mail, 1 to 4294967294
        :raise ValueError: for values out of range
        :raise RuntimeError: when Dovecot holds the folder's lock for more
            than ``WAIT_SECONDS``
        """
        if not 1 <= uidvalidity <= 0xFFFFFFFF:
            raise ValueError(f"UIDVALIDITY {uidvalidity} is not unsigned 32-bit")
        if not 1 <= next_uid < 0xFFFFFFFF:
            raise ValueError(f"next UID {next_uid} is not in 1..4294967294")
        # Maildir keeps both numbers in the header of dovecot-uidlist, and
        # Dovecot numbers every file missing from the list from N upwards.
        # `doveadm mailbox update` needs a running instance, can only raise
        # the next UID, and numbers the mail already there before changing
        # UIDVALIDITY; writing the list ourselves has none of these limits.
        path = self.create_folder(login, folder)
        lock = path / "dovecot-uidlist.lock"
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            # Dovecot's own dotlock: a running Dovecot waits while we hold it
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{lock} is still locked") from None
                time.sleep(0.02)
        try:
            # no G (mailbox GUID): Dovecot adds one when it next writes the
            # list; no file lines: every mail is numbered anew
            with os.fdopen(fd, "w") as out:
                out.write(f"3 V{uidvalidity} N{next_uid}\n")
            self._chown(lock)
            # the index keeps its own copy: Dovecot would never lower its next
            # UID under the same UIDVALIDITY, and logs a warning when the
            # UIDVALIDITY changed; without an index it rebuilds from the list
            for index in path.glob("dovecot.index*"):
                index.unlink()
            # as Dovecot writes the list: into the lock file, then a rename
            lock.replace(path / "dovecot-uidlist")
        except BaseException:
            lock.unlink(missing_ok=True)
            raise

    def deliver(self, login, raw, folder="INBOX", seen=False):
        """Put a message into a folder, as a local delivery agent would.

        The file is written in ``tmp/`` and renamed into ``new/`` (or into
        ``cur/`` with the ``S`` flag when ``seen``), so Dovecot never sees a
        half-written mail. A missing folder is created.

        :param str login: the mailbox user
        :param bytes raw: the RFC 5322 message
        :param str folder: target folder, ``INBOX`` by default
        :param bool seen: deliver it as already read
        :return: the path of the message file
        """
        path = self.create_folder(login, folder)
        with _deliver_lock:
            counter = next(_deliver_counter)
        now = time.time()
        base = "%d.M%dP%dQ%d.crmtest,S=%d" % (
            now,
            int(now % 1 * 1e6),
            os.getpid(),
            counter,
            len(raw),
        )
        tmp = path / "tmp" / base
        tmp.write_bytes(raw)
        self._chown(tmp)
        final = path / "cur" / f"{base}:2,S" if seen else path / "new" / base
        tmp.rename(final)
        return final

    def damage(self, path):
        """Damage a delivered message file the way a disk or a bad copy does:
        longer than the size its file name promises. Dovecot then fails to
        read it and closes the connection ("* BYE Internal error") at every
        FETCH of it (POP3 cannot even log in).

        :param path: the file, as returned by :meth:`deliver`
        """
        with open(path, "ab") as damaged:
            damaged.write(b"x" * 500 + b"\r\n")

    def set_writable(self, login, folder="INBOX", writable=True):
        """Make a folder read-only for Dovecot (or writable again): flags
        and deletions then fail ("is not writable"), reading still works.

        :param str login: the mailbox user
        :param str folder: folder name
        :param bool writable: False to refuse writes
        """
        path = self._folder_path(login, folder)
        mode = 0o700 if writable else 0o555
        for sub in (path / "cur", path / "new", path):
            if sub.exists():
                os.chmod(sub, mode)

    def message_count(self, login, folder="INBOX"):
        """Number of messages in a folder (files in ``new/`` and ``cur/``).

        :param str login: the mailbox user
        :param str folder: folder name
        :return: the count (0 when the folder does not exist)
        """
        path = self._folder_path(login, folder)
        return sum(
            len(list((path / sub).iterdir()))
            for sub in ("new", "cur")
            if (path / sub).is_dir()
        )


def main(argv=None):
    """Start Dovecot, print its JSON description, stop on SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="A private Dovecot on loopback.")
    parser.add_argument("--workdir", required=True)
    parser.add_argument(
        "--user", action="append", default=[], help="login:password (repeatable)"
    )
    args = parser.parse_args(argv)
    dovecot = Dovecot(args.workdir)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    dovecot.start()
    try:
        for spec in args.user:
            login, _sep, password = spec.partition(":")
            dovecot.add_user(login, password)
        print(json.dumps(dovecot.to_env()), flush=True)
        while not stop.wait(0.5):
            if not dovecot.pid:
                print(dovecot.log_tail(), file=sys.stderr)
                return 1
    finally:
        dovecot.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
