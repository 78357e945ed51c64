"""Live-arrival benchmark: from delivery into the mailbox to the mail stored
and visible in the database, with the mail watcher, and with the fetch cron.

One command, on a private PostgreSQL and Dovecot under the dev data folder::

    .venv/bin/python -m devtools.bench_watch            # 50 accounts, ~10 min
    .venv/bin/python -m devtools.bench_watch --accounts 10 --mails 30 --spread 60

1. **watcher**: ``odoo-bin crm_mail_watch`` on a database with N IMAP
   accounts (the fetch cron off). Once it holds every lease, its CPU is
   measured over ``--idle-seconds`` with nothing arriving (``/proc``: all its
   threads); then ``--mails`` mails are delivered into random mailboxes at
   random moments over ``--spread`` seconds, and a poller (every 0.1 s, a
   separate connection: what a reader's screen could see, committed) notes
   when each appears.
2. **cron**: the same on a threaded Odoo server without the watcher, the
   fetch cron every ``--cron-minutes`` (1, Odoo's smallest interval); the
   default interval (15 minutes) is shown as computed from it: a mail waits
   for the next run, uniformly over the interval, plus the run itself.

Prints one table (p50, p95, max, mean; the watcher's CPU idle and while
mail arrives; its memory), also written to ``<workdir>/bench_watch.md``.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

from . import odoo_env
from .dovecot import Dovecot
from .ports import free_port
from .postgres import Postgres
from .stress_watch import leases, start_watcher, stop_watcher, wait_for

ADDON = odoo_env.ADDON_NAME
DB = "crm_mail_bench_watch"
PASSWORD = "live-pass"
TICKS = os.sysconf("SC_CLK_TCK")

SETUP = """
import json
info = json.loads(%r)
Account = env["crm.mail.account"]
for box in info["boxes"]:
    account = Account.create({
        "name": box, "email": box, "incoming_host": info["host"],
        "incoming_port": info["port"], "incoming_security": "ssl",
        "login": box, "password": info["password"],
        "ca_certificate": info["ca_pem"], "initial_days": 0,
    })
    account._fetch_locked()  # the folders, as after a first fetch
cron = env.ref("crm_mail_client.ir_cron_fetch_mail")
cron.write({"active": False, "interval_number": info["cron_minutes"],
            "interval_type": "minutes"})
env.cr.commit()
print("READY", len(info["boxes"]))
"""


def log(text):
    print(f"[bench_watch] {text}", flush=True)


def cpu_seconds(pid):
    """User + system CPU of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Poller(threading.Thread):
    """Notes when each benchmark mail first appears in the database."""

    def __init__(self, pg, step=0.1):
        super().__init__(daemon=True)
        self.pg = pg
        self.step = step
        self.seen = {}  # subject -> monotonic time first seen
        self.stop = threading.Event()

    def run(self):
        import psycopg2

        pg = self.pg
        cnx = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, dbname=DB)
        cnx.autocommit = True
        last_id = 0
        with cnx.cursor() as cur:
            while not self.stop.is_set():
                cur.execute(
                    "SELECT id, subject FROM crm_mail_message WHERE id > %s "
                    "ORDER BY id",
                    (last_id,),
                )
                now = time.monotonic()
                for row_id, subject in cur.fetchall():
                    last_id = row_id
                    self.seen.setdefault(subject, now)
                self.stop.wait(self.step)
        cnx.close()


def deliver_at_random(dovecot, boxes, mails, spread, tag, rng):
    """Deliver ``mails`` mails at random moments over ``spread`` seconds;
    return ``{subject: monotonic time delivered}``."""
    moments = sorted(rng.uniform(0, spread) for _ in range(mails))
    started = time.monotonic()
    delivered = {}
    for index, moment in enumerate(moments):
        time.sleep(max(0.0, started + moment - time.monotonic()))
        box = rng.choice(boxes)
        subject = f"bench {tag} {index}"
        raw = (
            f"From: Client {index} <client{index}@live.example>\r\nTo: {box}\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{tag}.{index}.{time.time_ns()}@b>\r\n"
            "\r\nAny news about my order?\r\n"
        ).encode()
        dovecot.deliver(box, raw)
        delivered[subject] = time.monotonic()
    return delivered


def latencies(delivered, poller, wait):
    """Seconds from delivery to visible, waiting up to ``wait`` for the
    last ones; missing mails are reported apart."""
    wait_for(lambda: all(s in poller.seen for s in delivered), wait, step=0.5)
    got = [poller.seen[s] - t for s, t in delivered.items() if s in poller.seen]
    return sorted(got), len(delivered) - len(got)


def percentile(values, share):
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(share * (len(values) - 1))))]


def row(name, values, missing, note=""):
    return {
        "name": name,
        "n": len(values),
        "missing": missing,
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "max": values[-1] if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
        "note": note,
    }


def phase_watcher(tree, workdir, pg, dovecot, boxes, args, rng):
    proc = start_watcher(tree, workdir, pg, "watcher.log", db=DB)
    try:
        held, waited = wait_for(
            lambda: len(leases(pg, db=DB)) == len(boxes), 120, step=0.5
        )
        if not held:
            sys.exit(f"the watcher leased {len(leases(pg, db=DB))} of {len(boxes)}")
        log(f"watcher holds {len(boxes)} leases after {waited:.1f}s")
        time.sleep(5)  # every watch connected and in IDLE
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        poller = Poller(pg)
        poller.start()
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        delivered = deliver_at_random(
            dovecot, boxes, args.mails, args.spread, "watch", rng
        )
        values, missing = latencies(delivered, poller, 60)
        busy_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        poller.stop.set()
        rss = rss_mb(proc.pid)
    finally:
        stop_watcher(proc)
    return row(
        f"watcher (IMAP IDLE), {len(boxes)} accounts",
        values,
        missing,
        f"CPU idle {idle_cpu:.2f}% of a core, while mail arrives "
        f"{busy_cpu:.1f}%; RSS {rss:.0f} MB",
    )


def phase_cron(tree, workdir, pg, dovecot, boxes, args, rng):
    pg.psql(
        "UPDATE ir_cron SET active = true, nextcall = (now() at time zone 'UTC') "
        "WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = "
        f"'{ADDON}' AND name = 'ir_cron_fetch_mail')",
        db=DB,
        user=pg.user,
    )
    server_args = ["-d", DB, "--db-filter", f"^{DB}$", "--http-interface", "127.0.0.1"]
    server_args += ["--http-port", str(free_port()), "--max-cron-threads", "1"]
    server = odoo_env.spawn_odoo(
        tree,
        workdir,
        pg,
        [*server_args, "--log-level=info"],
        workdir / "cron-server.log",
    )
    try:
        time.sleep(20)  # the server up, its first pass done
        poller = Poller(pg)
        poller.start()
        mails = max(args.mails // 2, 10)
        delivered = deliver_at_random(dovecot, boxes, mails, args.spread, "cron", rng)
        values, missing = latencies(delivered, poller, args.cron_minutes * 60 + 60)
        poller.stop.set()
    finally:
        stop_watcher(server)
    text = (workdir / "cron-server.log").read_text(errors="replace")
    passes = text.count("Job 'Mail: fetch incoming mail' (") // 2
    measured = row(
        f"fetch cron every {args.cron_minutes} min, {len(boxes)} accounts",
        values,
        missing,
        "measured",
    )
    # the default interval: the wait for the next run is uniform over it
    run_time = max(measured["mean"] - args.cron_minutes * 30, 0)
    interval = 15 * 60
    computed = {
        "name": f"fetch cron every 15 min (default), {len(boxes)} accounts",
        "n": "-",
        "missing": "-",
        "p50": interval * 0.5 + run_time,
        "p95": interval * 0.95 + run_time,
        "max": interval + run_time,
        "mean": interval * 0.5 + run_time,
        "note": f"computed: uniform wait + the measured run ({run_time:.1f} s); "
        f"{passes} passes seen",
    }
    return [measured, computed]


def table(rows):
    lines = [
        "| path | mails | p50 s | p95 s | max s | mean s | missing | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['max']:.1f} | {r['mean']:.1f} | {r['missing']} | {r['note']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--mails", type=int, default=100)
    parser.add_argument("--spread", type=float, default=180, help="seconds")
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--cron-minutes", type=int, default=1)
    parser.add_argument("--no-cron", action="store_true", help="skip the cron path")
    parser.add_argument(
        "--workdir", type=Path, default=odoo_env.DEVDATA / "bench_watch"
    )
    args = parser.parse_args(argv)
    tree, how = odoo_env.find_odoo()
    if not tree:
        sys.exit(f"no Odoo: {how}")
    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    rng = random.Random(22)
    pg, dovecot = Postgres(workdir / "pg"), Dovecot(workdir / "dovecot")
    started = time.monotonic()
    try:
        pg.start()
        dovecot.start()
        log("installing the addon")
        code, text = odoo_env.run_odoo(
            tree,
            workdir,
            pg,
            [
                "-d",
                DB,
                "--stop-after-init",
                "--without-demo=all",
                "-i",
                ADDON,
                "--max-cron-threads=0",
                "--log-level=warn",
            ],
            workdir / "install.log",
        )
        if code:
            sys.exit(text[-3000:])
        boxes = [f"live{n}@crm.test" for n in range(args.accounts)]
        for box in boxes:
            dovecot.add_user(box, PASSWORD)
        info = {
            "boxes": boxes,
            "password": PASSWORD,
            "host": dovecot.host,
            "port": dovecot.imaps_port,
            "ca_pem": dovecot.ca_pem,
            "cron_minutes": args.cron_minutes,
        }
        code, text = odoo_env.run_odoo(
            tree,
            workdir,
            pg,
            ["shell", "-d", DB, "--no-http", "--log-level=warn"],
            workdir / "setup.log",
            input=SETUP % json.dumps(info),
        )
        if code or "READY" not in text:
            sys.exit(text[-3000:])
        log(f"{len(boxes)} accounts ready")
        rows = [phase_watcher(tree, workdir, pg, dovecot, boxes, args, rng)]
        if not args.no_cron:
            rows += phase_cron(tree, workdir, pg, dovecot, boxes, args, rng)
    finally:
        dovecot.stop()
        pg.stop()
    result = table(rows)
    print(result)
    (workdir / "bench_watch.md").write_text(result + "\n")
    log(f"done in {time.monotonic() - started:.0f}s")
    return 0 if rows[0]["missing"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
