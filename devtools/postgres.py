"""A private PostgreSQL cluster on a loopback port, for tests and the demo.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root the cluster is
run by the ``postgres`` system user; otherwise by the current user.
"""

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from .ports import free_port

PG_BIN_CANDIDATES = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"]
ROLE = "odoo"


def pg_bin_dir():
    """Directory of initdb/pg_ctl: $PG_BIN, the Debian 15 path, or $PATH."""
    for candidate in [os.environ.get("PG_BIN"), *PG_BIN_CANDIDATES]:
        if candidate and Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if not found:
        raise RuntimeError("PostgreSQL server binaries (initdb) not found")
    return Path(found).parent


class Postgres:
    """A throw-away cluster: ``start()``, use ``dsn_args``, ``stop()``."""

    def __init__(self, workdir, port=None, settings=None):
        """:param dict settings: more server settings (``-c name=value``)"""
        self.settings = dict(settings or {})
        self.workdir = Path(workdir).resolve()
        self.datadir = self.workdir / "pgdata"
        self.sockdir = self.workdir / "pgsock"
        self.logfile = self.workdir / "postgres.log"
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.user = ROLE
        self.bin = pg_bin_dir()

    # running as root: hand the files to postgres and run as postgres
    def _as_owner(self, args):
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def _chown(self, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self):
        """Create the cluster if needed, start it, and make the Odoo role."""
        for path in (self.workdir, self.sockdir):
            path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.workdir, 0o755)
            self._chown(self.sockdir)
        if not (self.datadir / "PG_VERSION").exists():
            self.datadir.mkdir(exist_ok=True)
            self._chown(self.datadir)
            subprocess.run(
                self._as_owner(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.datadir),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        self.logfile.touch()
        self._chown(self.logfile)
        options = (
            f"-h {self.host} -p {self.port} -k {self.sockdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        subprocess.run(
            self._as_owner(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.psql(
            f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='{ROLE}') "
            f"THEN CREATE ROLE {ROLE} LOGIN CREATEDB; END IF; END$$;"
        )
        return self

    def psql(self, sql, db="postgres", user="postgres"):
        """Run one SQL statement and return its output."""
        out = subprocess.run(
            [
                str(self.bin / "psql") if (self.bin / "psql").exists() else "psql",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                db,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def stop(self):
        """Stop the cluster (fast shutdown); idempotent."""
        if not (self.datadir / "postmaster.pid").exists():
            return
        subprocess.run(
            self._as_owner(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ]
            ),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while (
            self.datadir / "postmaster.pid"
        ).exists() and time.monotonic() < deadline:
            time.sleep(0.2)

    def odoo_args(self):
        """Command-line options that point Odoo at this cluster."""
        return [
            "--db_host",
            self.host,
            "--db_port",
            str(self.port),
            "--db_user",
            self.user,
        ]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
