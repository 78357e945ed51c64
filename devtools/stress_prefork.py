"""A prefork Odoo server fetching a backlog within its time limits.

Odoo kills a prefork cron worker whose pass over a database outlasts
``limit_time_real_cron`` (by default ``limit_time_real``) and stops one that
spends ``limit_time_cpu``. The fetch cron must keep every pass well inside
them, under any backlog, and still drain it without waiting for its
interval (a trigger starts the next pass at once).

Runs on the stress database (see ``stress.py``): a new mailbox with a
backlog, the fetch cron due now, ``odoo-bin --workers 2 --max-cron-threads
1`` with small limits; waits until every mail is stored, stops the server by
its PID, and reads its log: no worker timeout, no CPU limit reached.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from . import odoo_env
from .ports import free_port
from .samples import sample_message
from .stress import DB, SETUP, _count, _shell

MAILBOX, PASSWORD = "prefork@crm.test", "prefork-pass"
#: the server's limits: a CPU limit small enough that an unbounded pass is
#: caught at once; the real-time limit must stay above the cron worker's own
#: sleep between passes (60 s + up to 9 s), or Odoo kills it while it sleeps
LIMIT_REAL, LIMIT_CPU = 75, 10
#: seconds the backlog may take to drain
DRAIN_SECONDS = 600
#: what Odoo logs when it kills or stops a worker over a limit
LIMIT_LINES = re.compile(
    r"WorkerCron \(\d+\) timeout|CPU time limit|virtual real time limit"
)


def run(tree, workdir, pg, dovecot, mails=1500):
    """Drain a backlog of ``mails`` with a prefork server; return checks."""
    workdir = Path(workdir)
    dovecot.add_user(MAILBOX, PASSWORD)
    for index in range(mails):
        dovecot.deliver(MAILBOX, sample_message(index, MAILBOX))
    info = {
        "mailbox": MAILBOX,
        "password": PASSWORD,
        "host": dovecot.host,
        "port": dovecot.imaps_port,
        "ca_pem": dovecot.ca_pem,
        "folders": ["INBOX"],
    }
    code, log = _shell(tree, workdir, pg, SETUP % json.dumps(info), "prefork-setup.log")
    line = next((ln for ln in log.splitlines() if ln.startswith("ACCOUNT")), None)
    if code or not line:
        return [("stress: prefork setup", False, log[-2000:])]
    account_id = int(line.split()[1])
    stored_sql = f"SELECT count(*) FROM crm_mail_message WHERE account_id={account_id}"
    # due now; the other crons keep their own schedules
    pg.psql(
        "UPDATE ir_cron SET active = true, nextcall = (now() at time zone 'UTC') "
        "WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = "
        "'crm_mail_client' AND name = 'ir_cron_fetch_mail')",
        db=DB,
        user=pg.user,
    )
    server_log = workdir / "prefork-server.log"
    args = [
        "-d",
        DB,
        "--db-filter",
        f"^{DB}$",
        "--workers",
        "2",
        "--max-cron-threads",
        "1",
        "--limit-time-real",
        str(LIMIT_REAL),
        "--limit-time-cpu",
        str(LIMIT_CPU),
        "--http-port",
        str(free_port()),
        "--gevent-port",
        str(free_port()),
        "--http-interface",
        "127.0.0.1",
        "--log-level=info",
    ]
    started = time.monotonic()
    server = odoo_env.spawn_odoo(tree, workdir, pg, args, server_log, script=True)
    try:
        stored = 0
        while time.monotonic() - started < DRAIN_SECONDS and server.poll() is None:
            stored = _count(pg, stored_sql)
            if stored >= mails:
                break
            if not stored:
                # a new cron worker sleeps a minute before its first pass
                # unless told that a job is due: tell it, as a trigger does
                pg.psql(f"NOTIFY cron_trigger, '{DB}'", user=pg.user)
            time.sleep(1)
        elapsed = time.monotonic() - started
    finally:
        _stop(server)
    text = server_log.read_text(errors="replace")
    kills = LIMIT_LINES.findall(text)
    passes = len(re.findall(r"Job 'Mail: fetch incoming mail' \(\d+\) starting", text))
    twice = _count(
        pg,
        "SELECT count(*) FROM (SELECT message_id FROM crm_mail_message "
        f"WHERE account_id={account_id} AND message_id IS NOT NULL "
        "GROUP BY message_id HAVING count(*) > 1) d",
    )
    return [
        (
            "stress: prefork server drains a backlog within its limits",
            stored == mails and not kills and not twice,
            f"{stored}/{mails} mails in {elapsed:.0f}s over {passes} cron passes "
            f"(limits {LIMIT_REAL}s real, {LIMIT_CPU}s CPU), "
            f"{len(kills)} limit kills {sorted(set(kills))}, {twice} twice; "
            f"log {server_log}",
        )
    ]


def _stop(server):
    """Stop the prefork server by its PID: its master stops the workers."""
    if server.poll() is None:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    server.log.close()
