"""More committing fault tests, on the stress database (see ``stress.py``).

Each scenario has its own mailbox and account:

A. Dovecot stopped mid-fetch, then started again: the account goes to
   error with a clear reason, the next run recovers, every mail once.
B. "Fetch now" (``action_fetch_now``) in one process while another runs
   the cron: no duplicates.
C. UIDVALIDITY changed (folder deleted and recreated with the old mails
   and new ones): no duplicates by Message-ID, the new mail arrives.
D. A 25 MB message and one with 200 attachments: stored within the size
   rules; the peak RSS of the fetching process stays below 6 x the message
   size + 200 MB (``ru_maxrss`` of the child from ``os.wait4``).
E. A few hundred hostile generated mails through the real fetch: no crash,
   each stored, quarantined (raw .eml kept) or skipped.
F. A damaged message Dovecot refuses to FETCH (it drops the connection on
   it) in INBOX, more mail after it and in a later folder: everything else
   arrives at the first run, the account never fails, and the refused one
   ends visible in Quarantine after its retries.
G. A folder with UIDVALIDITY 3857529045 and UIDs above 2^31: every mail
   stored once, the checkpoint at the last UID.
H. Four damaged messages in a row, more than one fetch tolerates dropped
   connections: a run may fail, but what it got and refused is committed,
   so the next runs go on; in the end every good mail is stored and the
   four damaged ones are in Quarantine.
"""

import json
import os
import random
import subprocess
import time
from email.message import EmailMessage

from .samples import sample_message
from .stress import DB, SETUP, _count, _shell

PASSWORD = "fault-pass"
BOX = {key: f"fault-{key.lower()}@crm.test" for key in "ABCDEFGH"}
#: RFC 3501's example UIDVALIDITY and a first UID, both above 2^31
BIG_UIDVALIDITY, BIG_UID = 3857529045, 4294966000
MB = 1024 * 1024

SETUP_MANY = """
import json
for info in json.loads(%r):
    exec(SETUP, {"env": env, "json": json, "info_json": json.dumps(info)})
"""

# the stress SETUP script, made reusable for several accounts
ACCOUNT_SCRIPT = SETUP.replace("json.loads(%r)", "json.loads(info_json)").replace(
    '"max_per_run": 100,', '"max_per_run": info["max_per_run"], "timeout": 10,'
)

DRAIN = """
import json, time
Account = env["crm.mail.account"]
for account_id in json.loads(%r):
    acc = Account.browse(account_id)
    if not acc.active:
        acc.active = True
        env.cr.commit()
    started = time.monotonic()
    for _attempt in range(400):
        run = acc._fetch_locked()
        env.cr.commit()
        env.invalidate_all()
        if run is None:
            time.sleep(0.2)
            continue
        if not run.more or acc.state == "error":
            break
    print("DONE", account_id, acc.state, acc.failure_count,
          round(time.monotonic() - started, 1), json.dumps(acc.last_error or ""),
          flush=True)
"""

# A: fetch until the account fails (Dovecot is stopped under it) or is done
UNTIL_ERROR = """
import json
acc = env["crm.mail.account"].browse(%d)
while True:
    run = acc._fetch_locked()
    env.cr.commit()
    env.invalidate_all()
    print("RUN", acc.state, acc.failure_count, json.dumps(acc.last_error or ""),
          flush=True)
    if acc.state == "error" or not run.more:
        break
"""

CRON_LOOP = """
Account = env["crm.mail.account"]
acc = Account.browse(%d)
for _round in range(400):
    Account._cron_fetch_mail()
    env.cr.commit()
    env.invalidate_all()
    log = acc.fetch_log_ids[:1]
    print("CRON", log.stored, log.more_pending, flush=True)
    if log and not log.more_pending and not log.error:
        break
"""

FETCH_NOW_LOOP = """
import time
from odoo.exceptions import UserError
acc = env["crm.mail.account"].browse(%d)
ran = busy = 0
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    try:
        acc.action_fetch_now()
        ran += 1
    except UserError:
        busy += 1
    env.cr.commit()
    env.invalidate_all()
    log = acc.fetch_log_ids[:1]
    if ran and log and not log.more_pending and not log.error:
        break
    time.sleep(0.05)
print("FETCHNOW", ran, busy, flush=True)
"""


def _info(dovecot, key, folders, max_per_run=50):
    return {
        "mailbox": BOX[key],
        "password": PASSWORD,
        "host": dovecot.host,
        "port": dovecot.imaps_port,
        "ca_pem": dovecot.ca_pem,
        "folders": folders,
        "max_per_run": max_per_run,
    }


def _mail(index, key, subject=None, attachments=(), body="Hello"):
    msg = EmailMessage()
    msg["From"] = f"Client {index} <client{index}@client.example>"
    msg["To"] = BOX[key]
    msg["Subject"] = subject or f"{key} mail {index}"
    msg["Message-ID"] = f"<fault-{key}-{index}@client.example>"
    msg.set_content(body)
    for name, data in attachments:
        msg.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=name
        )
    return msg.as_bytes()


# ------------------------------------------------------------
# E: hostile mail
# ------------------------------------------------------------

HOSTILE_CHARSETS = ["utf-8", "cp1251", "koi8-r", "x-unknown", "utf-7", "", "utf-16"]
HOSTILE_HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<iframe src="https://evil.example"></iframe><base href="https://evil.example/">',
]


def _hostile_part(rng, depth=0):
    kind = rng.choice(
        ["text/plain", "text/html", "application/pdf", "message/rfc822"]
        + (["multipart/mixed", "multipart/alternative"] if depth < 5 else [])
    )
    if kind.startswith("multipart/"):
        boundary = rng.choice(["b", "", "=_x", "a" * 90, "b b", '"q'])
        children = [_hostile_part(rng, depth + 1) for _i in range(rng.randint(0, 4))]
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + c for c in children)
        if rng.random() < 0.5:  # a missing closing boundary
            body += b"--" + boundary.encode() + b"--\r\n"
        return f'Content-Type: {kind}; boundary="{boundary}"\r\n\r\n'.encode() + body
    charset = rng.choice(HOSTILE_CHARSETS)
    encoding = rng.choice(["7bit", "8bit", "base64", "quoted-printable", "x-junk"])
    text = rng.choice(HOSTILE_HTML) + "Привет " * rng.randint(0, 50)
    data = text.encode("utf-8")
    if encoding == "base64":
        import base64

        data = base64.b64encode(data)
        if rng.random() < 0.5:  # bad base64
            data = data[:-3] + b"!@#\x00"
    roll = rng.random()
    if roll < 0.2:
        data = data.replace(b"a", b"\x00")
    elif roll < 0.3:
        data += bytes(rng.randrange(256) for _i in range(200))
    head = f"Content-Type: {kind}; charset={charset}\r\n"
    head += f"Content-Transfer-Encoding: {encoding}\r\n"
    if rng.random() < 0.3:
        name = rng.choice(["<script>x</script>.pdf", "../../etc/passwd", "a\x00b.exe"])
        head += f'Content-Disposition: attachment; filename="{name}"\r\n'
    return head.encode("utf-8") + b"\r\n" + data + b"\r\n"


def hostile_message(rng, index):
    """One generated hostile mail (bytes)."""
    headers = [
        f"From: {rng.choice(HOSTILE_HTML)} <evil{index}@evil.example>",
        f"To: {BOX['E']}",
        f"Subject: {rng.choice(HOSTILE_HTML)} =?x-bad?B?%%%?= {index}",
    ]
    if rng.random() < 0.9:
        headers.append(f"Message-ID: <hostile-{index}@evil.example>")
    if rng.random() < 0.1:
        headers.append("X-Huge: " + "x" * rng.randint(10_000, 200_000))
    if rng.random() < 0.1:
        headers.append("Subject: =?utf-8?B?" + "A" * 5000 + "?=")
    if rng.random() < 0.1:
        headers.append("Date: not a date at all\x00")
    raw = "\r\n".join(headers).encode("utf-8") + b"\r\n" + _hostile_part(rng)
    roll = rng.random()
    if roll < 0.05:
        raw = raw[: rng.randint(10, len(raw))]  # cut anywhere
    elif roll < 0.1:  # not a mail at all: must be quarantined
        raw = bytes(rng.randrange(1, 256) for _i in range(300)).replace(b":", b";")
    return raw


# ------------------------------------------------------------
# helpers
# ------------------------------------------------------------


def _measured_shell(tree, workdir, pg, script, log_name):
    """Run an Odoo shell script; return (returncode, log, peak RSS in MB, s)."""
    started = time.monotonic()
    proc, log = _shell(tree, workdir, pg, script, log_name, background=True)
    with log:
        # wait4: the child's own resource usage (ru_maxrss in KiB on Linux)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    text = (workdir / log_name).read_text(errors="replace")
    return proc.returncode, text, usage.ru_maxrss / 1024, elapsed


def _lines(log, tag):
    return [ln.split() for ln in log.splitlines() if ln.startswith(tag + " ")]


def _exactly_once(pg, account_id):
    """(records, distinct server UIDs, Message-IDs stored twice)."""
    where = f"account_id={account_id}"
    records = _count(pg, f"SELECT count(*) FROM crm_mail_message WHERE {where}")
    dup_ids = _count(
        pg,
        "SELECT count(*) FROM (SELECT message_id FROM crm_mail_message "
        f"WHERE {where} AND message_id IS NOT NULL "
        "GROUP BY message_id HAVING count(*) > 1) d",
    )
    return records, dup_ids


# ------------------------------------------------------------
# the scenarios
# ------------------------------------------------------------


def run(tree, workdir, pg, dovecot):
    """Run scenarios A-E; return a list of (check name, ok, note)."""
    results = []
    rng = random.Random(7)
    counts = {"A": 400, "B": 300, "C": 20, "F": 30, "G": 50, "H": 20}
    for key in "ABE":
        dovecot.add_user(BOX[key], PASSWORD)
    dovecot.add_user(BOX["C"], PASSWORD)
    dovecot.add_user(BOX["D"], PASSWORD)
    for key in "AB":
        for index in range(counts[key]):
            dovecot.deliver(BOX[key], sample_message(index, BOX[key], rng=rng))
    old_mails = [_mail(i, "C") for i in range(counts["C"])]
    for raw in old_mails:
        dovecot.deliver(BOX["C"], raw, folder="Old")
    hostile = [hostile_message(rng, i) for i in range(300)]
    for raw in hostile:
        dovecot.deliver(BOX["E"], raw)
    # 18.5 MB of binary: 25 MB once base64-encoded in the mail
    big = _mail(0, "D", "big", [("big.bin", os.urandom(int(18.5 * MB)))])
    many = _mail(
        1, "D", "many", [(f"file{i:03}.txt", os.urandom(8 * 1024)) for i in range(200)]
    )
    dovecot.deliver(BOX["D"], big)
    dovecot.deliver(BOX["D"], many)

    dovecot.add_user(BOX["F"], PASSWORD)
    refused = [dovecot.deliver(BOX["F"], _mail(i, "F")) for i in range(counts["F"])][
        counts["F"] // 3
    ]
    dovecot.damage(refused)
    for index in range(10):
        dovecot.deliver(BOX["F"], _mail(100 + index, "F"), folder="Later")
    dovecot.add_user(BOX["H"], PASSWORD)
    in_a_row = [dovecot.deliver(BOX["H"], _mail(i, "H")) for i in range(counts["H"])]
    for path in in_a_row[5:9]:
        dovecot.damage(path)
    dovecot.add_user(BOX["G"], PASSWORD)
    dovecot.set_uid_state(BOX["G"], "INBOX", BIG_UIDVALIDITY, BIG_UID)
    for index in range(counts["G"]):
        dovecot.deliver(BOX["G"], _mail(index, "G"))

    infos = [
        _info(dovecot, "A", ["INBOX"]),
        _info(dovecot, "B", ["INBOX"]),
        _info(dovecot, "C", ["INBOX", "Old"]),
        _info(dovecot, "D", ["INBOX"], max_per_run=5),
        _info(dovecot, "E", ["INBOX"]),
        _info(dovecot, "F", ["INBOX", "Later"], max_per_run=100),
        _info(dovecot, "G", ["INBOX"]),
        _info(dovecot, "H", ["INBOX"]),
    ]
    script = f"SETUP = {ACCOUNT_SCRIPT!r}\n" + SETUP_MANY % json.dumps(infos)
    code, log = _shell(tree, workdir, pg, script, "stress-faults-setup.log")
    ids = [int(parts[1]) for parts in _lines(log, "ACCOUNT")]
    if code or len(ids) != len(infos):
        return [("stress: faults setup", False, log[-2000:])]
    acc = dict(zip("ABCDEFGH", ids, strict=True))
    # D waits (inactive) so that no other process fetches its big mail
    pg.psql(
        f"UPDATE crm_mail_account SET active=false WHERE id={acc['D']}",
        db=DB,
        user=pg.user,
    )

    results += _dovecot_down(tree, workdir, pg, dovecot, acc, counts)
    results += _fetch_now_during_cron(tree, workdir, pg, acc, counts)
    results += _uidvalidity(tree, workdir, pg, dovecot, acc, old_mails)
    results += _fuzz(pg, acc, len(hostile))
    results += _size(tree, workdir, pg, acc, len(big))
    results += _refused_fetch(tree, workdir, pg, acc, counts)
    results += _big_uids(tree, workdir, pg, acc, counts)
    results += _damaged_in_a_row(tree, workdir, pg, acc, counts)
    return results


def _dovecot_down(tree, workdir, pg, dovecot, acc, counts):
    results = []
    stored_sql = f"SELECT count(*) FROM crm_mail_message WHERE account_id={acc['A']}"
    proc, log = _shell(
        tree, workdir, pg, UNTIL_ERROR % acc["A"], "stress-down.log", background=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if _count(pg, stored_sql) >= counts["A"] // 4:
            break
        time.sleep(0.05)
    stopped_at = _count(pg, stored_sql)
    started = time.monotonic()
    try:
        dovecot.stop()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        failed_after = time.monotonic() - started
    finally:
        log.close()
        dovecot.start()
    text = (workdir / "stress-down.log").read_text(errors="replace")
    runs = _lines(text, "RUN")
    last = runs[-1] if runs else ["RUN", "?", "0", '""']
    reason = " ".join(last[3:])
    results.append(
        (
            "stress: Dovecot stopped mid-fetch -> error",
            last[1] == "error" and len(reason) > 4 and "Unexpected" not in reason,
            f"stopped at {stopped_at}/{counts['A']} stored, error after "
            f"{failed_after:.1f}s: {reason[:200]}",
        )
    )
    # Dovecot is back: the next runs recover (E is drained here too)
    code, text = _shell(
        tree,
        workdir,
        pg,
        DRAIN % json.dumps([acc["A"], acc["C"], acc["E"]]),
        "stress-recover.log",
    )
    done = {int(p[1]): p for p in _lines(text, "DONE")}
    records, dups = _exactly_once(pg, acc["A"])
    state = done.get(acc["A"], ["DONE", "", "?"])[2]
    results.append(
        (
            "stress: Dovecot back -> recovered, exactly once",
            code == 0 and state == "ok" and records == counts["A"] and not dups,
            f"state {state}, {records}/{counts['A']} mails, {dups} Message-IDs twice",
        )
    )
    return results


def _fetch_now_during_cron(tree, workdir, pg, acc, counts):
    cron, cron_log = _shell(
        tree, workdir, pg, CRON_LOOP % acc["B"], "stress-cron.log", background=True
    )
    time.sleep(2)  # let the cron start first
    now, now_log = _shell(
        tree,
        workdir,
        pg,
        FETCH_NOW_LOOP % acc["B"],
        "stress-fetchnow.log",
        background=True,
    )
    for proc, log in ((cron, cron_log), (now, now_log)):
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    text = (workdir / "stress-fetchnow.log").read_text(errors="replace")
    figures = (_lines(text, "FETCHNOW") or [["FETCHNOW", "?", "?"]])[-1]
    records, dups = _exactly_once(pg, acc["B"])
    # runs that failed on the race (a stale snapshot after taking the lock
    # once made them fail on a serialization error)
    failed_runs = _count(
        pg,
        "SELECT count(*) FROM crm_mail_fetch_log "
        f"WHERE account_id={acc['B']} AND error IS NOT NULL",
    )
    return [
        (
            "stress: Fetch now during a cron fetch",
            cron.returncode == 0
            and now.returncode == 0
            and records == counts["B"]
            and not dups
            and not failed_runs,
            f"{records}/{counts['B']} mails, {dups} Message-IDs twice; Fetch now "
            f"ran {figures[1]} times, refused as busy {figures[2]} times, "
            f"{failed_runs} runs failed",
        )
    ]


def _uidvalidity(tree, workdir, pg, dovecot, acc, old_mails):
    before = pg.psql(
        f"SELECT uidvalidity FROM crm_mail_folder WHERE account_id={acc['C']} "
        "AND name='Old'",
        db=DB,
        user=pg.user,
    )
    dovecot.delete_folder(BOX["C"], "Old")
    new_mails = [_mail(100 + i, "C", f"new after recreate {i}") for i in range(5)]
    for raw in [*new_mails, *old_mails]:
        dovecot.deliver(BOX["C"], raw, folder="Old")
    code, text = _shell(
        tree, workdir, pg, DRAIN % json.dumps([acc["C"]]), "stress-uidvalidity.log"
    )
    after = pg.psql(
        f"SELECT uidvalidity FROM crm_mail_folder WHERE account_id={acc['C']} "
        "AND name='Old'",
        db=DB,
        user=pg.user,
    )
    records, dups = _exactly_once(pg, acc["C"])
    new = _count(
        pg,
        f"SELECT count(*) FROM crm_mail_message WHERE account_id={acc['C']} "
        "AND subject LIKE 'new after recreate%'",
    )
    expected = len(old_mails) + len(new_mails)
    return [
        (
            "stress: UIDVALIDITY changed",
            code == 0 and records == expected and not dups and new == len(new_mails),
            f"UIDVALIDITY {before.strip()} -> {after.strip()}, {records}/{expected} "
            f"mails, {new} new, {dups} Message-IDs twice",
        )
    ]


def _fuzz(pg, acc, delivered):
    where = f"account_id={acc['E']}"
    sums = pg.psql(
        "SELECT coalesce(sum(stored),0), coalesce(sum(quarantined),0), "
        "coalesce(sum(skipped_duplicate + refused + skipped_other),0), "
        "count(*) FILTER (WHERE error IS NOT NULL) "
        f"FROM crm_mail_fetch_log WHERE {where}",
        db=DB,
        user=pg.user,
    )
    stored, quarantined, skipped, errors = (int(x) for x in sums.split("|"))
    bare = _count(
        pg,
        f"SELECT count(*) FROM crm_mail_message m WHERE {where} "
        "AND state='quarantined' AND NOT EXISTS (SELECT 1 FROM ir_attachment a "
        "WHERE a.res_model='crm.mail.message' AND a.res_id=m.id)",
    )
    records = _count(pg, f"SELECT count(*) FROM crm_mail_message WHERE {where}")
    outcomes = stored + quarantined + skipped
    return [
        (
            "stress: hostile mail fuzz",
            outcomes == delivered and not errors and not bare and records,
            f"{delivered} delivered: {stored} stored, {quarantined} quarantined, "
            f"{skipped} skipped, {errors} failed runs, {bare} quarantined "
            "without their raw .eml",
        )
    ]


def _size(tree, workdir, pg, acc, big_size):
    code, text, rss_mb, elapsed = _measured_shell(
        tree, workdir, pg, DRAIN % json.dumps([acc["D"]]), "stress-size.log"
    )
    # the same Odoo shell doing nothing: what the fetch itself adds
    _code, _text, idle_mb, _s = _measured_shell(
        tree, workdir, pg, "env.cr.execute('SELECT 1')\n", "stress-idle.log"
    )
    limit = 6 * big_size / MB + 200
    where = f"account_id={acc['D']}"
    rows = pg.psql(
        "SELECT m.subject, count(a.id), coalesce(max(a.file_size), 0) "
        "FROM crm_mail_message m LEFT JOIN ir_attachment a "
        "ON a.res_model='crm.mail.message' AND a.res_id=m.id "
        f"WHERE m.{where} GROUP BY m.id, m.subject ORDER BY m.subject",
        db=DB,
        user=pg.user,
    )
    got = {ln.split("|")[0]: ln.split("|")[1:] for ln in rows.splitlines()}
    max_attachment = 25 * MB  # the account's default max_attachment_mb
    big_ok = "big" in got and 18 * MB <= int(got["big"][1]) <= max_attachment
    many_ok = "many" in got and int(got["many"][0]) >= 200
    return [
        (
            "stress: 25 MB mail and 200 attachments stored",
            code == 0 and big_ok and many_ok,
            f"{got} (mail sizes: {big_size / MB:.1f} MB raw)",
        ),
        (
            "stress: peak RSS of the fetch",
            code == 0 and rss_mb < limit,
            f"peak RSS {rss_mb:.0f} MB (idle shell {idle_mb:.0f} MB), limit "
            f"{limit:.0f} MB (6 x {big_size / MB:.1f} MB + 200 MB); "
            f"fetch process {elapsed:.0f}s",
        ),
    ]


# ------------------------------------------------------------
# F: a message the server will not give
# ------------------------------------------------------------

RUNS = """
acc = env["crm.mail.account"].browse(%d)
for _run in range(%d):
    acc._fetch_locked()
    env.cr.commit()
    env.invalidate_all()
    print("RUN", acc.state, json.dumps(acc.last_error or ""), flush=True)
"""


def _refused_fetch(tree, workdir, pg, acc, counts):
    script = "import json\n" + RUNS % (acc["F"], 4)
    code, text = _shell(tree, workdir, pg, script, "stress-refused.log")
    runs = _lines(text, "RUN")
    where = f"account_id={acc['F']}"
    first_run_stored = _count(
        pg,
        f"SELECT stored FROM crm_mail_fetch_log WHERE {where} ORDER BY id LIMIT 1",
    )
    received = _count(
        pg, f"SELECT count(*) FROM crm_mail_message WHERE {where} AND state='received'"
    )
    stub = pg.psql(
        "SELECT m.imap_uid, left(m.error, 120) FROM crm_mail_message m "
        f"WHERE m.{where} AND state='quarantined'",
        db=DB,
        user=pg.user,
    )
    pending = _count(pg, f"SELECT count(*) FROM crm_mail_fetch_retry WHERE {where}")
    others = counts["F"] - 1 + 10
    ok = (
        code == 0
        and runs
        and all(run[1] == "ok" for run in runs)
        and first_run_stored == others == received
        and stub.startswith(str(counts["F"] // 3 + 1) + "|")
        and not pending
    )
    return [
        (
            "stress: a mail the server refuses to FETCH",
            ok,
            f"{received}/{others} others stored ({first_run_stored} at the first "
            f"run), states {[run[1] for run in runs]}, refused one kept as "
            f"{stub or 'nothing'}, {pending} retries pending",
        )
    ]


# ------------------------------------------------------------
# G: UIDs beyond 2^31
# ------------------------------------------------------------


def _big_uids(tree, workdir, pg, acc, counts):
    code, _text = _shell(
        tree, workdir, pg, DRAIN % json.dumps([acc["G"]]), "stress-big-uids.log"
    )
    records, dups = _exactly_once(pg, acc["G"])
    where = f"account_id={acc['G']}"
    low = _count(
        pg,
        f"SELECT count(*) FROM crm_mail_message WHERE {where} "
        f"AND (imap_uid < {BIG_UID} OR imap_uidvalidity <> {BIG_UIDVALIDITY})",
    )
    folder = pg.psql(
        f"SELECT uidvalidity, last_uid FROM crm_mail_folder WHERE {where} "
        "AND name='INBOX'",
        db=DB,
        user=pg.user,
    )
    expected_folder = f"{BIG_UIDVALIDITY}|{BIG_UID + counts['G'] - 1}"
    return [
        (
            "stress: UIDVALIDITY and UIDs above 2^31",
            code == 0
            and records == counts["G"]
            and not dups
            and not low
            and folder == expected_folder,
            f"{records}/{counts['G']} mails, {dups} twice, {low} at a 31-bit "
            f"place; folder {folder} (expected {expected_folder})",
        )
    ]


# ------------------------------------------------------------
# H: more damaged messages in a row than a fetch tolerates
# ------------------------------------------------------------


def _damaged_in_a_row(tree, workdir, pg, acc, counts):
    script = "import json\n" + RUNS % (acc["H"], 8)
    code, text = _shell(tree, workdir, pg, script, "stress-in-a-row.log")
    runs = [run[1] for run in _lines(text, "RUN")]
    where = f"account_id={acc['H']}"
    received = _count(
        pg, f"SELECT count(*) FROM crm_mail_message WHERE {where} AND state='received'"
    )
    stubs = _count(
        pg,
        f"SELECT count(*) FROM crm_mail_message WHERE {where} AND state='quarantined'",
    )
    pending = _count(pg, f"SELECT count(*) FROM crm_mail_fetch_retry WHERE {where}")
    good = counts["H"] - 4
    return [
        (
            "stress: four damaged mails in a row block nothing for good",
            code == 0
            and runs[-1:] == ["ok"]
            and received == good
            and stubs == 4
            and not pending,
            f"{received}/{good} good mails stored, {stubs}/4 in Quarantine, "
            f"{pending} retries pending; runs {runs}",
        )
    ]
