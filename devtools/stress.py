"""Fault tests that need real commits: SIGKILL mid-fetch, parallel fetchers.

Runs on its own database (TransactionCase cannot commit, and a killed
process must leave a committed state behind). Called by the test runner
after the Odoo suite; prints one ``stress: ...`` line per check.

Scenario (issue: exactly-once fetching):
1. a mailbox with N mixed mails (sample mail in several charsets, with
   attachments, duplicates by Message-ID, mails to itself, unparsable bytes,
   and the third-party corpora when downloaded) over three folders;
2. an Odoo process fetches with the cron code path and is SIGKILLed midway;
3. two Odoo processes then fetch the same account at once until done;
4. a last fetch adds nothing.
Checks: every server message has exactly one outcome (stored, quarantined,
or one of the skips that were planted), no Message-ID twice, checkpoints
equal the last UID of each folder.

Then ``stress_faults.py`` runs the other faults on the same database:
Dovecot stopped mid-fetch, "Fetch now" during a cron run, UIDVALIDITY
change, a 25 MB mail and 200 attachments (peak RSS), hostile mail fuzz, a
message the server refuses to FETCH, UIDs beyond 2^31; ``stress_prefork.py``
a prefork server draining a backlog within its limits; and
``stress_watch.py`` two mail watchers (IMAP IDLE), one killed with -9.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from mail_engine import mime
from mail_engine.exceptions import ParseError

from . import odoo_env
from .samples import sample_message

DB = "crm_mail_stress"
MAILBOX, PASSWORD = "stress@crm.test", "stress-pass"
FOLDERS = ["INBOX", "Archive", "Клиенты"]

FETCH_LOOP = """
import time
Account = env["crm.mail.account"]
while True:
    Account._cron_fetch_mail()
    env.cr.commit()
    env.invalidate_all()
    acc = Account.browse(%(account_id)d)
    log = acc.fetch_log_ids[:1]
    print("BATCH", log.stored, log.quarantined, log.more_pending, flush=True)
    if not log.more_pending and not log.error:
        break
"""

SETUP = """
import json
info = json.loads(%r)
account = env["crm.mail.account"].create({
    "name": "Stress", "email": info["mailbox"], "incoming_host": info["host"],
    "incoming_port": info["port"], "incoming_security": "ssl",
    "login": info["mailbox"], "password": info["password"],
    "ca_certificate": info["ca_pem"], "initial_days": 0, "max_per_run": 100,
})
account.action_test_connection()
for folder in account.folder_ids:
    folder.to_fetch = folder.name in info["folders"]
env.cr.commit()
print("ACCOUNT", account.id)
"""


def _dedupe_key(raw):
    """The key the fetch deduplicates on: Message-ID, else a hash of the mail."""
    try:
        message_id = mime.parse(raw, save_attachments=False).message_id
    except ParseError:
        message_id = None
    return message_id or hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def build_mailbox(dovecot, count, corpora_files=()):
    """Fill the mailbox; return what a correct fetch must end with."""
    rng = random.Random(42)
    dovecot.add_user(MAILBOX, PASSWORD)
    planted = {"self": 0, "total": 0}
    keys = set()
    first_raw = None
    raws = []
    for index in range(count):
        roll = rng.random()
        if roll < 0.02 and first_raw:
            raw = first_raw  # the same mail again: a duplicate to skip
        elif roll < 0.03:
            # a mail of the account to itself (a note, a website form):
            # stored like any other, never skipped
            raw = (
                f"From: {MAILBOX}\r\nTo: {MAILBOX}\r\nSubject: note {index}\r\n"
                f"Message-ID: <self-{index}@crm.test>\r\n\r\nremember\r\n"
            ).encode()
            planted["self"] += 1
        elif roll < 0.035:
            raw = bytes(rng.randbytes(300)).replace(b"\n", b" ")  # not a mail
        else:
            raw = sample_message(index, MAILBOX, rng=rng)
            first_raw = first_raw or raw
        raws.append((FOLDERS[index % len(FOLDERS)], raw))
    raws.extend(("Archive", Path(path).read_bytes()) for path in corpora_files)
    for folder, raw in raws:
        dovecot.deliver(MAILBOX, raw, folder=folder)
        planted["total"] += 1
        keys.add(_dedupe_key(raw))
    planted["expected"] = len(keys)
    return planted


def _shell(tree, workdir, pg, script, log_name, background=False):
    args = ["shell", "-d", DB, "--no-http", "--log-level=warn"]
    if background:
        cmd = odoo_env.odoo_command(tree, workdir, pg, *args)
        log = open(workdir / log_name, "w")  # noqa: SIM115 - closed by the caller
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=odoo_env.odoo_env(tree),
            cwd=workdir,
            text=True,
        )
        proc.stdin.write(script)
        proc.stdin.close()
        return proc, log
    return odoo_env.run_odoo(tree, workdir, pg, args, workdir / log_name, input=script)


def _count(pg, sql):
    return int(pg.psql(sql, db=DB, user=pg.user) or 0)


def run(tree, workdir, pg, dovecot, template_db, mails=2000, corpora_files=()):
    """Run the scenario; return a list of (check name, ok, note)."""
    results = []
    workdir = Path(workdir)
    pg.psql(f'CREATE DATABASE "{DB}" TEMPLATE "{template_db}"')
    filestore = workdir / "filestore" / "filestore"
    if (filestore / template_db).exists():
        subprocess.run(
            ["cp", "-a", str(filestore / template_db), str(filestore / DB)], check=True
        )
    planted = build_mailbox(dovecot, mails, corpora_files)
    info = {
        "mailbox": MAILBOX,
        "password": PASSWORD,
        "host": dovecot.host,
        "port": dovecot.imaps_port,
        "ca_pem": dovecot.ca_pem,
        "folders": FOLDERS,
    }
    code, log = _shell(tree, workdir, pg, SETUP % json.dumps(info), "stress-setup.log")
    account_line = next(
        (ln for ln in log.splitlines() if ln.startswith("ACCOUNT")), None
    )
    if code or not account_line:
        return [("stress: setup", False, log[-2000:])]
    account_id = int(account_line.split()[1])
    loop = FETCH_LOOP % {"account_id": account_id}
    stored_sql = f"SELECT count(*) FROM crm_mail_message WHERE account_id={account_id}"

    # 1. SIGKILL midway
    proc, log = _shell(tree, workdir, pg, loop, "stress-kill.log", background=True)
    deadline = time.monotonic() + 600
    target = mails // 3
    while time.monotonic() < deadline and proc.poll() is None:
        if _count(pg, stored_sql) >= target:
            break
        time.sleep(0.2)
    killed_at = _count(pg, stored_sql)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    results.append(
        (
            "stress: SIGKILL mid-fetch",
            0 < killed_at < mails,
            f"killed with {killed_at} mails stored",
        )
    )

    # 2. two fetchers at once until done
    procs = [
        _shell(tree, workdir, pg, loop, f"stress-parallel-{i}.log", background=True)
        for i in range(2)
    ]
    for proc, log in procs:
        try:
            proc.wait(timeout=1200)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    ok_exit = all(proc.returncode == 0 for proc, _log in procs)
    results.append(
        (
            "stress: two fetchers at once",
            ok_exit,
            "exit codes " + ",".join(str(p.returncode) for p, _l in procs),
        )
    )

    # 3. one more fetch adds nothing
    before = _count(pg, stored_sql)
    code, _log = _shell(tree, workdir, pg, loop, "stress-last.log")
    after = _count(pg, stored_sql)
    results.append(
        (
            "stress: refetch adds nothing",
            code == 0 and before == after,
            f"{before} -> {after}",
        )
    )

    # 4. every server message has exactly one outcome
    records = _count(pg, stored_sql)
    uid_pairs = _count(
        pg,
        "SELECT count(DISTINCT (folder_id, imap_uidvalidity, imap_uid)) "
        f"FROM crm_mail_message WHERE account_id={account_id}",
    )
    dup_ids = _count(
        pg,
        "SELECT count(*) FROM (SELECT message_id FROM crm_mail_message "
        f"WHERE account_id={account_id} AND message_id IS NOT NULL "
        "GROUP BY message_id HAVING count(*) > 1) d",
    )
    quarantined = _count(pg, stored_sql + " AND state='quarantined'")
    expected = planted["expected"]
    results.append(
        (
            "stress: exactly once",
            records == uid_pairs == expected and not dup_ids,
            f"records {records}, distinct UIDs {uid_pairs}, expected {expected} "
            f"(of {planted['total']} on the server, {planted['self']} to itself, "
            "all stored), "
            f"{quarantined} quarantined, "
            f"{dup_ids} Message-IDs twice",
        )
    )
    checkpoints = pg.psql(
        f"SELECT name, last_uid FROM crm_mail_folder WHERE account_id={account_id} "
        "AND to_fetch ORDER BY name",
        db=DB,
        user=pg.user,
    )
    on_server = {f: dovecot.message_count(MAILBOX, f) for f in FOLDERS}
    got = dict(line.split("|") for line in checkpoints.splitlines())
    ok = all(int(got.get(f, -1)) == on_server[f] for f in FOLDERS)
    results.append(("stress: checkpoints = last UID", ok, f"{got} vs {on_server}"))
    # the other faults (Dovecot down, Fetch now, UIDVALIDITY, size, fuzz,
    # a refused message, UIDs beyond 2^31), then a prefork server's limits
    # and the mail watcher's processes (live arrival: leases, kill -9)
    from . import stress_faults, stress_prefork, stress_watch

    results.extend(stress_faults.run(tree, workdir, pg, dovecot))
    results.extend(stress_prefork.run(tree, workdir, pg, dovecot))
    results.extend(stress_watch.run(tree, workdir, pg, dovecot))
    return results


if __name__ == "__main__":
    sys.exit("run through devtools.run_tests")
