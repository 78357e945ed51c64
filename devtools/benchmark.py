"""Ingest benchmark: the raw limit, Odoo's stock mail gateway, crm_mail_client.

One command, on a private PostgreSQL and Dovecot under the dev data folder
(never inside the repository)::

    scripts/benchmark.sh                 # 10,000 mails, 100,000 partners, 3 reps
    scripts/benchmark.sh --quick         # a few hundred mails, ~1-2 minutes
    scripts/benchmark.sh --mails 2000 --partners 20000 --profile

What it measures, on each corpus of :data:`CORPORA` (``--corpus``: the
generated mail of ``samples.sample_message`` and the HTML-heavy mix of
``samples.mixed_message``, its rows named "mix: ..."), each ``--reps``
times (min and median):

- **raw**: ``imaplib`` UID FETCH of the whole mailbox (in chunks, so memory
  stays flat) plus a stdlib parse of every mail, no database; once with
  ``compat32`` (what ``mail_engine.mime`` uses), once with ``policy.default``;
- **stock**: Odoo's own ``fetchmail.server`` (IMAP over SSL, ``object_id`` =
  ``crm.lead``), ``fetch_mail()`` on a copy of the mailbox (flags reset to
  unseen before each run);
- **ours**: ``crm.mail.account._cron_fetch_mail()`` until nothing is pending,
  linking included, committed, on a fresh copy of the database each time.

SQL queries are counted with Odoo's own per-process counter
(``odoo.sql_db.sql_counter``, incremented by every ``Cursor.execute``), peak
memory with ``getrusage`` of the Odoo process. The per-message cost of ours
is measured at P = ``--small-partners`` and at P = ``--partners``; the mails'
senders are contacts present in both databases, so only the partner count
differs. Results go to ``<workdir>/benchmark.md``, ``benchmark.csv`` and
``benchmark.png`` (the chart needs matplotlib).
"""

import argparse
import csv
import imaplib
import json
import os
import random
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

from . import odoo_env
from .dovecot import Dovecot
from .postgres import Postgres
from .samples import mixed_message, sample_message

ADDON = odoo_env.ADDON_NAME
MAILBOX, STOCK_MAILBOX, PASSWORD = "bench@crm.test", "stock@crm.test", "bench-pass"
#: the second corpus (``--corpus mix``): HTML-heavy, attachments, Cyrillic
#: charsets, many unknown senders; its rows are named "mix: ..."
MIX_MAILBOX, MIX_STOCK_MAILBOX = "mix@crm.test", "mixstock@crm.test"
#: senders of the mix, half of them contacts among the partners, half
#: unknown (a quarter of those at a public mail provider)
MIX_SENDERS = 97
#: corpus -> (mailbox of ours and of the raw limit, the stock gateway's,
#: prefix of its rows)
CORPORA = {
    "standard": (MAILBOX, STOCK_MAILBOX, ""),
    "mix": (MIX_MAILBOX, MIX_STOCK_MAILBOX, "mix: "),
}
#: contacts per company in the generated partner set (100,000 / 20,000)
PER_COMPANY = 5
#: UIDs per UID FETCH command of the raw measurement
RAW_CHUNK = 500

#: ``--quick``: what the test command runs (see devtools/run_tests.py)
QUICK = {
    "mails": 300,
    "partners": 2000,
    "small_partners": 0,
    "reps": 1,
    "stock_mails": 100,
    "chart": False,
    "scale_mails": 0,
}

#: the default run
FULL = {
    "mails": 10000,
    "partners": 100000,
    "small_partners": 1000,
    "reps": 3,
    "chart": True,
    "scale_mails": 4000,
}

# ------------------------------------------------------------ Odoo scripts
# run through ``odoo shell`` with the script on stdin, like devtools/stress.py

PARTNERS = """
import json
info = json.loads(%r)
cr = env.cr
P, per = info["partners"], info["per_company"]
C = (P + per - 1) // per
cr.execute('''
    INSERT INTO res_partner (name, complete_name, email, is_company, type,
        active, lang, crm_mail_domain, create_date, write_date)
    SELECT 'ООО Компания ' || i, 'ООО Компания ' || i,
        'info@c' || i || '.example', true, 'contact', true, 'en_US',
        'c' || i || '.example', now(), now()
    FROM generate_series(0, %%s - 1) i''', (C,))
cr.execute('''
    INSERT INTO res_partner (name, complete_name, email, is_company, type,
        active, lang, parent_id, create_date, write_date)
    SELECT 'Контакт ' || j, 'Контакт ' || j,
        'contact' || j || '@c' || (j / %%s) || '.example', false, 'contact',
        true, 'en_US', p.id, now(), now()
    FROM generate_series(0, %%s - 1) j
    JOIN res_partner p ON p.crm_mail_domain = 'c' || (j / %%s) || '.example'
    ''', (per, P, per))
cr.execute("UPDATE res_partner SET commercial_partner_id = coalesce(parent_id, id) "
           "WHERE commercial_partner_id IS NULL")
env.invalidate_all()
env["crm.mail.address"]._rebuild()
cr.execute("ANALYZE")
env.cr.commit()
cr.execute("SELECT count(*) FROM res_partner")
print("PARTNERS", cr.fetchone()[0])
cr.execute("SELECT count(*) FROM crm_mail_address")
print("ADDRESSES", cr.fetchone()[0])
"""

OURS = """
import json, resource, time, cProfile
import odoo.sql_db as sql_db
info = json.loads(%r)
account = env["crm.mail.account"].create({
    "name": "Bench", "email": info["mailbox"], "incoming_host": info["host"],
    "incoming_port": info["port"], "incoming_security": "ssl",
    "login": info["mailbox"], "password": info["password"],
    "ca_certificate": info["ca_pem"], "initial_days": 0,
    "max_per_run": info["per_run"], "mark_as_read": False, "keep_on_server": True,
})
account.action_test_connection()
for folder in account.folder_ids:
    folder.to_fetch = folder.name == "INBOX"
env.cr.commit()
Account = env["crm.mail.account"]
profiler = cProfile.Profile() if info["profile"] else None
shapes = {}
if profiler:
    # a histogram of the statements (their first words) beside the profile
    execute = sql_db.Cursor.execute
    def counting(self, query, params=None, log_exceptions=True):
        text = " ".join(str(query).split())[:110]
        if "SAVEPOINT" in text:
            text = text.split('"')[0] + "<name>"
        shapes[text] = shapes.get(text, 0) + 1
        return execute(self, query, params, log_exceptions)
    sql_db.Cursor.execute = counting
queries = sql_db.sql_counter
started = time.monotonic()
batches = done = 0
curve = []  # (mails done, peak RSS MB so far) after each batch
while True:
    if profiler:
        profiler.enable()
    Account._cron_fetch_mail()
    env.cr.commit()
    if profiler:
        profiler.disable()
    batches += 1
    env.invalidate_all()
    log = account.fetch_log_ids[:1]
    done += log.stored + log.quarantined
    curve.append((done, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    if not log.more_pending or log.error or batches > 10000:
        break
elapsed = time.monotonic() - started
queries = sql_db.sql_counter - queries
if profiler:
    profiler.dump_stats(info["profile"])
    sql_db.Cursor.execute = execute
    with open(info["profile"] + ".sql.txt", "w") as handle:
        for text, count in sorted(shapes.items(), key=lambda i: -i[1]):
            handle.write(f"{count:7d}  {text}\\n")
env.cr.execute(
    "SELECT count(*), count(DISTINCT message_id), "
    "count(*) FILTER (WHERE state = 'quarantined') "
    "FROM crm_mail_message WHERE account_id = %%s", (account.id,))
stored, distinct, quarantined = env.cr.fetchone()
env.cr.execute("SELECT count(*) FROM crm_mail_message WHERE account_id = %%s "
               "AND (contact_id IS NOT NULL OR partner_id IS NOT NULL)", (account.id,))
linked = env.cr.fetchone()[0]
print("RESULT", json.dumps({
    "seconds": elapsed, "stored": stored, "distinct": distinct,
    "quarantined": quarantined, "linked": linked, "queries": queries,
    "batches": batches, "error": log.error or "",
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_curve": curve,
}), flush=True)
"""

STOCK = """
import json, resource, time
import odoo.sql_db as sql_db
info = json.loads(%r)
server = env["fetchmail.server"].create({
    "name": "Bench stock", "server_type": "imap", "server": info["host"],
    "port": info["port"], "is_ssl": True, "user": info["mailbox"],
    "password": info["password"],
    "object_id": env["ir.model"]._get_id("crm.lead"),
})
env.cr.commit()
env.cr.execute("SELECT count(*) FROM crm_lead")
before = env.cr.fetchone()[0]
queries = sql_db.sql_counter
started = time.monotonic()
server.fetch_mail()
elapsed = time.monotonic() - started
queries = sql_db.sql_counter - queries
env.cr.execute("SELECT count(*) FROM crm_lead")
leads = env.cr.fetchone()[0] - before
print("RESULT", json.dumps({
    "seconds": elapsed, "stored": leads, "queries": queries,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}), flush=True)
"""


SCALE_SETUP = """
import json
info = json.loads(%r)
ids = []
for login in info["logins"]:
    account = env["crm.mail.account"].create({
        "name": login, "email": login, "incoming_host": info["host"],
        "incoming_port": info["port"], "incoming_security": "ssl",
        "login": login, "password": info["password"],
        "ca_certificate": info["ca_pem"], "initial_days": 0,
        "max_per_run": info["per_run"], "mark_as_read": False,
        "keep_on_server": True,
    })
    account.action_test_connection()
    for folder in account.folder_ids:
        folder.to_fetch = folder.name == "INBOX"
    ids.append(account.id)
env.cr.commit()
print("ACCOUNTS", json.dumps(ids))
"""

#: one cron job's share (``job`` of ``jobs``), started at an agreed time
SCALE_LOOP = """
import json, resource, time
info = json.loads(%r)
Account = env["crm.mail.account"]
mine = Account.browse([i for i in info["ids"] if i %% info["jobs"] == info["job"]])
while time.time() < info["start_at"]:
    time.sleep(0.01)
calls = 0
while True:
    Account._cron_fetch_mail(job=info["job"], jobs=info["jobs"])
    env.cr.commit()
    env.invalidate_all()
    calls += 1
    logs = [a.fetch_log_ids[:1] for a in mine]
    if calls > 10000 or all(log and not log.more_pending for log in logs):
        break
print("RESULT", json.dumps({
    "finished_at": time.time(), "calls": calls,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}), flush=True)
"""

# ------------------------------------------------------------ helpers


def log(text):
    print(f"benchmark: {text}", flush=True)


def _stats(values):
    return (min(values), statistics.median(values)) if values else (0.0, 0.0)


def _imap(dovecot, login):
    context = ssl.create_default_context(cafile=dovecot.ca_path)
    imap = imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=context)
    imap.login(login, PASSWORD)
    return imap


def reset_unseen(dovecot, login):
    """Clear the \\Seen flag of every mail (the stock gateway fetches UNSEEN)."""
    imap = _imap(dovecot, login)
    try:
        imap.select("INBOX")
        imap.uid("STORE", "1:*", "-FLAGS.SILENT", "(\\Seen)")
    finally:
        imap.logout()


def build_mailboxes(dovecot, mails, stock_mails, senders, seed=7):
    """Write ``mails`` messages into the Maildir (the first ``stock_mails`` also
    into the stock gateway's mailbox); senders are known contacts."""
    rng = random.Random(seed)
    dovecot.add_user(MAILBOX, PASSWORD)
    dovecot.add_user(STOCK_MAILBOX, PASSWORD)
    size = 0
    for index in range(mails):
        j = rng.randrange(senders)
        sender = (f"Контакт {j}", f"contact{j}@c{j // PER_COMPANY}.example", None)
        raw = sample_message(index, MAILBOX, rng=rng, sender=sender)
        size += len(raw)
        dovecot.deliver(MAILBOX, raw)
        if index < stock_mails:
            dovecot.deliver(STOCK_MAILBOX, raw)
    return size


def build_mix_mailboxes(dovecot, mails, stock_mails, partners, seed=13):
    """Write the mix corpus (see :func:`samples.mixed_message`) into its
    mailboxes: :data:`MIX_SENDERS` senders, half known contacts."""
    rng = random.Random(seed)
    dovecot.add_user(MIX_MAILBOX, PASSWORD)
    dovecot.add_user(MIX_STOCK_MAILBOX, PASSWORD)
    known = MIX_SENDERS // 2
    senders = [
        (f"Контакт {j}", f"contact{j}@c{j // PER_COMPANY}.example")
        for j in rng.sample(range(partners), min(known, partners))
    ]
    public = ["gmail.com", "mail.ru", "yandex.ru"]
    for k in range(MIX_SENDERS - len(senders)):
        domain = public[k % 3] if k % 4 == 0 else f"novaya-firma{k}.example"
        senders.append((f"Менеджер {k}", f"manager{k}@{domain}"))
    size = 0
    for index in range(mails):
        raw = mixed_message(index, MIX_MAILBOX, rng, rng.choice(senders))
        size += len(raw)
        dovecot.deliver(MIX_MAILBOX, raw)
        if index < stock_mails:
            dovecot.deliver(MIX_STOCK_MAILBOX, raw)
    return size


def measure_raw(dovecot, parse_policy, login=MAILBOX):
    """UID FETCH everything in chunks and parse each mail with the stdlib."""
    parser = BytesParser(policy=parse_policy)
    started = time.monotonic()
    fetch_seconds = count = 0
    imap = _imap(dovecot, login)
    try:
        imap.select("INBOX", readonly=True)
        _typ, data = imap.uid("SEARCH", "ALL")
        uids = data[0].split()
        for start in range(0, len(uids), RAW_CHUNK):
            chunk = b",".join(uids[start : start + RAW_CHUNK]).decode()
            t0 = time.monotonic()
            _typ, data = imap.uid("FETCH", chunk, "(BODY.PEEK[])")
            fetch_seconds += time.monotonic() - t0
            for item in data:
                if not isinstance(item, tuple):
                    continue
                msg = parser.parsebytes(item[1])
                for part in msg.walk():
                    if not part.is_multipart():
                        part.get_payload(decode=True)
                if parse_policy is policy.default:
                    str(msg["subject"] or "")
                    str(msg["from"] or "")
                count += 1
    finally:
        imap.logout()
    return {
        "seconds": time.monotonic() - started,
        "stored": count,
        "fetch_seconds": fetch_seconds,
    }


def _parse_result(code, text):
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    if code or not line:
        raise RuntimeError(f"Odoo run failed (exit {code}):\n{text[-3000:]}")
    return json.loads(line[7:])


class Bench:
    """Databases and servers of one benchmark run."""

    def __init__(self, tree, workdir, pg, dovecot):
        self.tree, self.workdir, self.pg, self.dovecot = tree, workdir, pg, dovecot
        self.filestore = workdir / "filestore" / "filestore"

    def shell(self, db, script, name):
        args = ["shell", "-d", db, "--no-http", "--log-level=warn"]
        return odoo_env.run_odoo(
            self.tree, self.workdir, self.pg, args, self.workdir / name, input=script
        )

    def copy_db(self, template, db):
        self.drop_db(db)
        self.pg.psql(f'CREATE DATABASE "{db}" TEMPLATE "{template}"')
        if (self.filestore / template).exists():
            subprocess.run(
                ["cp", "-a", str(self.filestore / template), str(self.filestore / db)],
                check=True,
            )

    def drop_db(self, db):
        self.pg.psql(f'DROP DATABASE IF EXISTS "{db}"')
        shutil.rmtree(self.filestore / db, ignore_errors=True)

    def install(self, db):
        code, text = odoo_env.run_odoo(
            self.tree,
            self.workdir,
            self.pg,
            [
                "-d",
                db,
                "-i",
                ADDON,
                "--stop-after-init",
                "--without-demo=all",
                "--no-http",
                "--log-level=warn",
                "--max-cron-threads=0",
            ],
            self.workdir / f"install-{db}.log",
        )
        if code:
            raise RuntimeError(f"install failed:\n{text[-3000:]}")

    def add_partners(self, db, partners):
        info = {"partners": partners, "per_company": PER_COMPANY}
        started = time.monotonic()
        code, text = self.shell(db, PARTNERS % json.dumps(info), f"partners-{db}.log")
        if code or "PARTNERS" not in text:
            raise RuntimeError(f"partner insert failed:\n{text[-3000:]}")
        counts = " ".join(ln for ln in text.splitlines() if ln[:4] in ("PART", "ADDR"))
        seconds = time.monotonic() - started
        log(f"{db}: {partners} contacts in {seconds:.0f}s ({counts})")

    def info(self, login, **extra):
        return {
            "mailbox": login,
            "password": PASSWORD,
            "host": self.dovecot.host,
            "port": self.dovecot.imaps_port,
            "ca_pem": self.dovecot.ca_pem,
            **extra,
        }

    def run_ours(self, template, rep, per_run, profile=None, login=MAILBOX):
        db = f"{template}_ours"
        self.copy_db(template, db)
        info = self.info(login, per_run=per_run, profile=str(profile or ""))
        try:
            log_name = f"ours-{db}-{login.split('@')[0]}-{rep}.log"
            code, text = self.shell(db, OURS % json.dumps(info), log_name)
            return _parse_result(code, text)
        finally:
            self.drop_db(db)

    def run_stock(self, template, rep, login=STOCK_MAILBOX):
        db = f"{template}_stock"
        self.copy_db(template, db)
        reset_unseen(self.dovecot, login)
        try:
            code, text = self.shell(
                db,
                STOCK % json.dumps(self.info(login)),
                f"stock-{login.split('@')[0]}-{rep}.log",
            )
            return _parse_result(code, text)
        finally:
            self.drop_db(db)

    def run_scale(self, template, logins, jobs, per_run):
        """Fetch ``logins`` (one account each) with ``jobs`` cron jobs, each
        in its own Odoo process, started together.

        :return: dict with the wall time, stored mails and duplicates
        """
        db = f"{template}_scale"
        self.copy_db(template, db)
        try:
            info = self.info(None, logins=logins, per_run=per_run)
            code, text = self.shell(db, SCALE_SETUP % json.dumps(info), "scale.log")
            line = next((x for x in text.splitlines() if x.startswith("ACCOUNTS")), "")
            if code or not line:
                raise RuntimeError(f"scale setup failed:\n{text[-3000:]}")
            ids = json.loads(line.split(" ", 1)[1])
            start_at = time.time() + 10  # Odoo's start-up is not measured
            procs = []
            for job in range(jobs):
                script = SCALE_LOOP % json.dumps(
                    {"ids": ids, "job": job, "jobs": jobs, "start_at": start_at}
                )
                cmd = odoo_env.odoo_command(
                    self.tree,
                    self.workdir,
                    self.pg,
                    "shell",
                    "-d",
                    db,
                    "--no-http",
                    "--log-level=warn",
                )
                out = open(self.workdir / f"scale-{jobs}-{job}.log", "w+")  # noqa: SIM115
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=odoo_env.odoo_env(self.tree),
                    cwd=self.workdir,
                    text=True,
                )
                proc.stdin.write(script)
                proc.stdin.close()
                procs.append((proc, out))
            results = []
            for proc, out in procs:
                proc.wait(timeout=3600)
                out.seek(0)
                results.append(_parse_result(proc.returncode, out.read()))
                out.close()
            sql = (
                "SELECT count(*), count(*) - count(DISTINCT (account_id, "
                "coalesce(message_id, dedupe_key))) FROM crm_mail_message"
            )
            stored, duplicates = self.pg.psql(sql, db=db, user=self.pg.user).split("|")
            return {
                "seconds": max(r["finished_at"] for r in results) - start_at,
                "stored": int(stored),
                "duplicates": int(duplicates),
                "rss_mb": max(r["rss_mb"] for r in results),
            }
        finally:
            self.drop_db(db)


def measure_scale(bench, template, accounts, mails, per_run, senders, reps):
    """Scale-out: ``accounts`` mailboxes, one cron job vs two in two processes."""
    rng = random.Random(11)
    logins = [f"scale{i}@crm.test" for i in range(accounts)]
    for index in range(mails):
        login = logins[index % accounts]
        j = rng.randrange(senders)
        sender = (f"Контакт {j}", f"contact{j}@c{j // PER_COMPANY}.example", None)
        if index < accounts:
            bench.dovecot.add_user(login, PASSWORD)
        raw = sample_message(100000 + index, login, rng=rng, sender=sender)
        bench.dovecot.deliver(login, raw)
    out = {}
    for jobs in (1, 2):
        for _rep in range(reps):
            result = bench.run_scale(template, logins, jobs, per_run)
            log(
                f"scale-out, {jobs} job(s) / process(es), {accounts} accounts: "
                f"{result['stored']} mails in {result['seconds']:.1f}s, "
                f"{result['duplicates']} duplicates"
            )
            out.setdefault(jobs, []).append(result)
    return out


# ------------------------------------------------------------ the run


def run(
    tree,
    workdir,
    pg,
    dovecot,
    *,
    mails,
    partners,
    small_partners,
    reps,
    stock_mails,
    template=None,
    per_run=500,
    profile=False,
    chart=True,
    scale_mails=0,
    scale_accounts=20,
    corpora=tuple(CORPORA),
):
    """Run the benchmark on started servers; return the result dict.

    :param template: an existing database with the addon installed (the test
        runner's); None installs one
    :param corpora: names of :data:`CORPORA` to measure
    """
    workdir = Path(workdir)
    bench = Bench(tree, workdir, pg, dovecot)
    senders = max(1, min(partners, small_partners or partners))
    started = time.monotonic()
    for corpus in corpora:
        build = build_mailboxes if corpus == "standard" else build_mix_mailboxes
        size = build(dovecot, mails, min(stock_mails, mails), senders)
        log(
            f"{corpus}: {mails} mails ({size / mails / 1024:.1f} KB average) "
            f"written to the Maildir in {time.monotonic() - started:.0f}s"
        )
        started = time.monotonic()
    if template is None:
        template = "bench_base"
        bench.drop_db(template)
        started = time.monotonic()
        bench.install(template)
        log(f"{ADDON} installed in {time.monotonic() - started:.0f}s")
    sizes = [partners] + ([small_partners] if small_partners else [])
    bases = {}
    for size_p in sizes:
        db = f"bench_p{size_p}"
        bench.copy_db(template, db)
        bench.add_partners(db, size_p)
        bases[size_p] = db
    results = {
        "mails": mails,
        "partners": partners,
        "reps": reps,
        "runs": {},
        "corpora": list(corpora),
    }
    runs = results["runs"]

    def record(name, result):
        runs.setdefault(name, []).append(result)
        rate = result["stored"] / result["seconds"] if result["seconds"] else 0
        extra = ""
        if "queries" in result and result["stored"]:
            extra = (
                f", {result['queries'] / result['stored']:.1f} queries/mail, "
                f"RSS {result['rss_mb']:.0f} MB"
            )
        log(
            f"{name}: {result['stored']} mails in {result['seconds']:.2f}s = "
            f"{rate:.0f} msg/s{extra}"
        )

    for rep in range(reps):
        for corpus in corpora:
            login, stock_login, prefix = CORPORA[corpus]
            for name, parse_policy in (
                ("raw (compat32)", policy.compat32),
                ("raw (policy.default)", policy.default),
            ):
                record(prefix + name, measure_raw(dovecot, parse_policy, login))
            if stock_mails:
                record(
                    prefix + "stock gateway",
                    bench.run_stock(bases[partners], rep, stock_login),
                )
            ours = bench.run_ours(bases[partners], rep, per_run, login=login)
            record(f"{prefix}ours P={partners}", ours)
            if small_partners and corpus == "standard":
                record(
                    f"ours P={small_partners}",
                    bench.run_ours(bases[small_partners], rep, per_run),
                )
    if scale_mails:
        scale = measure_scale(
            bench,
            bases[partners],
            scale_accounts,
            scale_mails,
            per_run,
            senders,
            reps,
        )
        for jobs, items in scale.items():
            for item in items:
                record(f"scale-out {jobs} job(s)", item)
        results["scale"] = scale
    if profile:
        results["profile"] = profile_runs(bench, bases[partners], corpora, per_run)
    for db in bases.values():
        bench.drop_db(db)
    results["summary"] = summarize(results, partners, small_partners)
    write_outputs(results, workdir, chart)
    return results


def profile_runs(bench, template, corpora, per_run):
    """An extra, cProfiled run of ours per corpus (cProfile slows the code
    down: no measurement); the profile and a histogram of the statements
    are written beside the results.

    :return: dict corpus -> path of its profile
    """
    out = {}
    for corpus in corpora:
        login = CORPORA[corpus][0]
        prof = bench.workdir / f"{corpus}.prof"
        result = bench.run_ours(template, "profile", per_run, prof, login)
        log(f"{corpus}: profiled run: {result['stored'] / result['seconds']:.0f} msg/s")
        log(f"profile: {prof} (python -m pstats), statements: {prof}.sql.txt")
        out[corpus] = str(prof)
    return out


def summarize(results, partners, small_partners):
    rows = []
    for name, items in results["runs"].items():
        rates = [r["stored"] / r["seconds"] for r in items if r["seconds"]]
        per_mail = [r["seconds"] / r["stored"] * 1000 for r in items if r["stored"]]
        row = {"name": name, "mails": items[0]["stored"]}
        row["best msg/s"] = max(rates) if rates else 0
        row["median msg/s"] = statistics.median(rates) if rates else 0
        row["best ms/mail"], row["median ms/mail"] = _stats(per_mail)
        queries = [
            r["queries"] / r["stored"] for r in items if "queries" in r and r["stored"]
        ]
        row["queries/mail"] = min(queries) if queries else None
        rss = [r["rss_mb"] for r in items if "rss_mb" in r]
        row["peak RSS MB"] = max(rss) if rss else None
        if "distinct" in items[0]:
            row["exactly once"] = all(
                r["stored"] == r["distinct"] == results["mails"] and not r["error"]
                for r in items
            )
            row["linked"] = min(r["linked"] for r in items)
            row["quarantined"] = max(r["quarantined"] for r in items)
        rows.append(row)
    by = {r["name"]: r for r in rows}
    ratios = {}
    for corpus in results.get("corpora", ["standard"]):
        prefix = CORPORA[corpus][2]
        ours = by.get(f"{prefix}ours P={partners}")
        if not ours:
            continue
        for other in ("raw (compat32)", "raw (policy.default)", "stock gateway"):
            row = by.get(prefix + other)
            if row and row["median msg/s"]:
                ratios[f"{prefix}ours / {other}"] = (
                    ours["median msg/s"] / row["median msg/s"]
                )
        # memory flat in N: the peak after a tenth of the mails against
        # the peak after all of them, in the same process (the worst run)
        pairs = [
            (r["rss_mb"] / _rss_at(r["rss_curve"], results["mails"] / 10), r)
            for r in results["runs"][ours["name"]]
            if r.get("rss_curve") and r.get("rss_mb")
        ]
        if pairs:
            ratio, run = max(pairs, key=lambda pair: pair[0])
            ours["RSS MB at N/10"] = _rss_at(run["rss_curve"], results["mails"] / 10)
            ratios[f"{prefix}peak RSS at N / at N/10"] = ratio
        small = by.get(f"ours P={small_partners}")
        if prefix == "" and small and small["median ms/mail"]:
            ratios[f"ms/mail P={partners} / P={small_partners}"] = (
                ours["median ms/mail"] / small["median ms/mail"]
            )
    return {"rows": rows, "ratios": ratios}


def _rss_at(curve, mails):
    """Peak RSS (MB) once ``mails`` mails were done, from a run's curve."""
    for done, rss in curve:
        if done >= mails:
            return rss
    return curve[-1][1]


def write_outputs(results, workdir, chart=True):
    rows, ratios = results["summary"]["rows"], results["summary"]["ratios"]
    columns = [
        "name",
        "mails",
        "best msg/s",
        "median msg/s",
        "best ms/mail",
        "median ms/mail",
        "queries/mail",
        "RSS MB at N/10",
        "peak RSS MB",
    ]

    def fmt(value):
        if value is None:
            return ""
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = [
        f"# crm_mail_client ingest benchmark ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"{results['mails']} mails, {results['partners']} partners, "
        f"{results['reps']} repetition(s)",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in ratios.items()]
    md = workdir / "benchmark.md"
    md.write_text("\n".join(lines) + "\n")
    with open(workdir / "benchmark.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (workdir / "benchmark.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines), flush=True)
    log(f"table: {md} (and .csv, .json)")
    if not chart:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no chart")
        return
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r["name"] for r in rows]
    ax.barh(names, [r["median msg/s"] for r in rows], color="#4a7bb7")
    ax.set_xlabel("messages per second (median)")
    ax.set_xscale("log")
    ax.set_title(f"Ingest of {results['mails']} mails, {results['partners']} partners")
    for index, row in enumerate(rows):
        ax.text(row["median msg/s"], index, f" {row['median msg/s']:.0f}", va="center")
    fig.tight_layout()
    png = workdir / "benchmark.png"
    fig.savefig(png, dpi=120)
    log(f"chart: {png}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a few hundred mails, P=2000, 1 repetition"
    )
    parser.add_argument("--mails", type=int)
    parser.add_argument("--partners", type=int)
    parser.add_argument(
        "--small-partners", type=int, help="the small P of the P comparison (0: skip)"
    )
    parser.add_argument("--reps", type=int)
    parser.add_argument(
        "--stock-mails",
        type=int,
        help="mails for the stock gateway (slow): default all",
    )
    parser.add_argument(
        "--per-run", type=int, default=500, help="the account's 'Mails per Run'"
    )
    parser.add_argument(
        "--profile", action="store_true", help="an extra, cProfiled run of ours"
    )
    parser.add_argument(
        "--scale-mails",
        type=int,
        help="mails over --scale-accounts mailboxes for the scale-out (0: skip)",
    )
    parser.add_argument("--scale-accounts", type=int, default=20)
    parser.add_argument(
        "--corpus",
        choices=["both", *CORPORA],
        default="both",
        help="the generated corpus (standard), the HTML-heavy mix, or both",
    )
    parser.add_argument("--workdir", type=Path, default=odoo_env.DEVDATA / "benchmark")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the previous work folder (its servers' data)",
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    mails = args.mails or base["mails"]
    partners = args.partners or base["partners"]
    small = base["small_partners"]
    small = args.small_partners if args.small_partners is not None else small
    reps = args.reps or base["reps"]
    stock = args.stock_mails if args.stock_mails is not None else mails
    scale = base["scale_mails"]
    scale = args.scale_mails if args.scale_mails is not None else scale
    tree, how = odoo_env.find_odoo()
    if not tree:
        sys.exit(f"no Odoo: {how}")
    workdir = args.workdir.resolve()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    pg, dovecot = Postgres(workdir / "pg"), Dovecot(workdir / "dovecot")
    started = time.monotonic()
    try:
        pg.start()
        dovecot.start()
        results = run(
            tree,
            workdir,
            pg,
            dovecot,
            mails=mails,
            partners=partners,
            small_partners=small,
            reps=reps,
            stock_mails=stock,
            per_run=args.per_run,
            profile=args.profile,
            chart=base["chart"],
            scale_mails=scale,
            scale_accounts=args.scale_accounts,
            corpora=tuple(CORPORA) if args.corpus == "both" else (args.corpus,),
        )
    finally:
        dovecot.stop()
        pg.stop()
    log(
        f"done in {time.monotonic() - started:.0f}s; benchmark RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    ours = [r for r in results["summary"]["rows"] if "exactly once" in r]
    return 0 if ours and all(r["exactly once"] for r in ours) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
