"""The project's test command: lints, the engine suite, then the Odoo suite.

Prints one closing line ``N passed, N failed, N skipped``. Without Odoo the
engine suite still runs and a loud ``ODOO SUITE SKIPPED`` line says why
(``REQUIRE_ODOO=1`` turns that into a failure).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from . import odoo_env
from .dovecot import Dovecot
from .ports import free_port
from .postgres import Postgres

REPO = odoo_env.REPO
DEVDATA = odoo_env.DEVDATA
ADDON = odoo_env.ADDON_NAME
#: the addon and its bridges: their tests run, their terms are translated
ADDONS = odoo_env.addon_names()


class Summary:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.lines = []

    def add(self, name, passed=0, failed=0, skipped=0, note=""):
        self.passed += passed
        self.failed += failed
        self.skipped += skipped
        self.lines.append(
            f"  {name:<28} {passed:>5} passed {failed:>4} failed {skipped:>4} skipped"
            + (f"  {note}" if note else "")
        )

    def check(self, name, ok, note=""):
        self.add(name, passed=int(ok), failed=int(not ok), note=note)


def banner(text):
    print("\n" + "=" * 78 + f"\n{text}\n" + "=" * 78, flush=True)


def run(cmd, **kw):
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, **kw)


# ------------------------------------------------------------ lints


def run_lints(summary):
    banner("LINT: ruff, pylint-odoo (mandatory checks), engine without odoo")
    ruff = run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO)
    summary.check("lint: ruff", ruff.returncode == 0)
    pylint = run(
        [
            sys.executable,
            "-m",
            "pylint",
            "--rcfile",
            str(REPO / ".pylintrc-mandatory"),
            str(REPO / "models"),
            str(REPO / "mail_engine"),
            str(REPO / "__manifest__.py"),
            str(REPO / "__init__.py"),
            str(REPO / "watcher.py"),
            str(REPO / "cli"),
            *(str(odoo_env.BRIDGES / name) for name in odoo_env.bridge_names()),
        ],
        cwd=REPO,
    )
    summary.check("lint: pylint-odoo", pylint.returncode == 0)


# ------------------------------------------------------------ engine


def run_engine(summary):
    banner("ENGINE SUITE (pytest, real Dovecot and SMTP peer on loopback)")
    DEVDATA.mkdir(exist_ok=True)
    junit = DEVDATA / "engine-junit.xml"
    junit.unlink(missing_ok=True)
    proc = run(
        [sys.executable, "-m", "pytest", "-q", "-rfE", f"--junitxml={junit}"],
        cwd=REPO / "tests" / "engine",
    )
    if not junit.exists():
        summary.add("engine suite", failed=1, note=f"pytest exit {proc.returncode}")
        return
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    tests = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    if proc.returncode not in (0, 1) and not failed:
        failed = 1  # pytest itself broke (exit 2-5): count it
    summary.add("engine suite", tests - failed - skipped, failed, skipped)


# ------------------------------------------------------------ odoo

RESULT_RE = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests")
#: Odoo logs a skipped test at INFO: a skipped test of ours proves nothing
SKIPPED_RE = re.compile(rf"{ADDON}(?:_\w+)?\.tests\.\S+: skipped (\S+) : (.*)")
LOG_LINE_RE = re.compile(
    r"^\S+ \S+ \d+ (ERROR|WARNING|CRITICAL) (\S+) ([\w.]+): ", re.M
)


def addon_problems(log):
    """ERROR/WARNING lines logged by our addon, and any ERROR at all."""
    problems = []
    for match in LOG_LINE_RE.finditer(log):
        level, logger = match.group(1), match.group(3)
        if f"addons.{ADDON}" in logger or level in ("ERROR", "CRITICAL"):
            end = log.find("\n", match.start())
            problems.append(log[match.start() : end if end > 0 else None])
    return problems


#: installed beside the addon (never a dependency): the README automation
#: test, and Project, which brings the tasks bridge (it installs itself)
BESIDE = "base_automation,project"


def run_odoo_suite(summary, tree, test_tags=None, stress=True):
    banner(f"ODOO SUITE (Odoo at {tree})")
    workdir = DEVDATA / "odoo-tests"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db = "crm_mail_test"
    pg = Postgres(workdir / "pg")
    dovecot = Dovecot(workdir / "dovecot")
    try:
        pg.start()
        dovecot.start()
        os.environ["CRM_MAIL_TEST_DOVECOT"] = json.dumps(dovecot.to_env())
        common = [
            "-d",
            db,
            "--stop-after-init",
            "--without-demo=all",
            "--http-port",
            str(free_port()),
            "--log-level=info",
            "--max-cron-threads=0",
        ]
        started = time.monotonic()
        code, log = odoo_env.run_odoo(
            tree,
            workdir,
            pg,
            [*common, "-i", f"{ADDON},{BESIDE}"],
            workdir / "install.log",
        )
        problems = addon_problems(log)
        for line in problems[:20]:
            print("   " + line)
        summary.check(
            "odoo: install",
            code == 0 and not problems,
            f"{time.monotonic() - started:.0f}s, log {workdir / 'install.log'}",
        )
        if code != 0:
            print(log[-5000:])
            return
        if stress:
            run_stress(summary, tree, workdir, pg, dovecot, db)
            run_benchmark_quick(summary, tree, workdir, pg, dovecot, db)
            run_bench_scale_quick(summary, tree, workdir, pg, db)
        started = time.monotonic()
        code, log = odoo_env.run_odoo(
            tree,
            workdir,
            pg,
            [
                *common,
                "-u",
                ADDON,
                "--test-enable",
                "--test-tags",
                test_tags or ",".join(f"/{name}" for name in ADDONS),
            ],
            workdir / "tests.log",
        )
        results = RESULT_RE.findall(log)
        print(log[-3000:] if code or not results else "")
        if results:
            failures, errors, total = (int(x) for x in results[-1])
            bad = failures + errors
            summary.add(
                "odoo suite (and upgrade)",
                total - bad,
                bad,
                note=f"{time.monotonic() - started:.0f}s, log {workdir / 'tests.log'}",
            )
            if total == 0:
                summary.check("odoo suite ran tests", False, "0 Odoo tests ran")
            skipped = SKIPPED_RE.findall(log)
            for name, reason in skipped:
                print(f"   SKIPPED {name}: {reason}")
            summary.check(
                "odoo suite: nothing skipped",
                not skipped,
                f"{len(skipped)} skipped" if skipped else "",
            )
        else:
            summary.check(
                "odoo suite (and upgrade)", False, "no test result in the log"
            )
        check_translations(summary, tree, workdir, pg, db)
        uninstall = (
            "m = env['ir.module.module'].search([('name', '=', '%s')])\n"
            "m.button_immediate_uninstall()\n"
            "env.cr.commit()\n"
            "m.invalidate_recordset()\n"
            "print('STATE', m.state)\n"
        ) % ADDON
        code, log = odoo_env.run_odoo(
            tree,
            workdir,
            pg,
            ["shell", "-d", db, "--no-http", "--log-level=warn"],
            workdir / "uninstall.log",
            input=uninstall,
        )
        ok = code == 0 and "STATE uninstalled" in log
        if not ok:
            print(log[-3000:])
        summary.check("odoo: uninstall", ok)
    finally:
        dovecot.stop()
        pg.stop()
        os.environ.pop("CRM_MAIL_TEST_DOVECOT", None)


def check_translations(summary, tree, workdir, pg, db):
    """The .pot in the repo is current and ru.po translates every term."""
    from . import i18n

    for module in i18n.modules():
        fresh = workdir / f"fresh-{module}.pot"
        code, log = i18n.export_pot(tree, workdir, pg, db, fresh, module=module)
        if code or not fresh.exists():
            summary.check(f"i18n: export .pot of {module}", False, log[-200:])
            continue
        ids = lambda path: {i for i, _s in i18n._entries(path.read_text())}  # noqa: E731
        pot = i18n.pot_path(module)
        stale = ids(fresh) ^ ids(pot) if pot.exists() else {"<no .pot>"}
        for msgid in sorted(stale)[:20]:
            print(f"   .pot out of date: {msgid[:90]!r}")
        summary.check(
            f"i18n: .pot of {module} up to date",
            not stale,
            f"{len(stale)} terms differ: run python -m devtools.i18n",
        )
        missing = i18n.check_po(fresh, i18n.po_path(module))
        for msgid in missing[:20]:
            print(f"   ru.po lacks: {msgid[:90]!r}")
        summary.check(
            f"i18n: ru.po of {module} complete", not missing, f"{len(missing)} missing"
        )


def run_stress(summary, tree, workdir, pg, dovecot, template_db):
    """The committing fault tests (SIGKILL, parallel fetchers) on their own DB."""
    banner("STRESS (own database, real commits): SIGKILL and parallel fetch")
    from . import stress

    mails = int(os.environ.get("CRM_MAIL_STRESS_MAILS", "2000"))
    corpora_files = []
    try:
        from .corpora import collect

        corpora_files = collect(DEVDATA / "corpora")
    except Exception as exc:  # noqa: BLE001 - the corpora are a bonus here
        print(f"stress: third-party corpora unavailable ({exc}); sample mail only")
    started = time.monotonic()
    try:
        results = stress.run(
            tree, workdir, pg, dovecot, template_db, mails, corpora_files
        )
    except Exception as exc:  # noqa: BLE001 - report, never hide
        results = [("stress: crashed", False, repr(exc))]
    for name, ok, note in results:
        print(f"{name}: {'ok' if ok else 'FAILED'} - {note}")
        summary.check(name, ok, note[:60])
    print(
        f"stress: {time.monotonic() - started:.0f}s with {mails} mails "
        f"+ {len(corpora_files)} corpus mails"
    )


def run_benchmark_quick(summary, tree, workdir, pg, dovecot, template_db):
    """``benchmark --quick``: keeps the benchmark working; figures are printed."""
    banner("BENCHMARK --quick (own databases, real commits)")
    from . import benchmark

    try:
        results = benchmark.run(
            tree,
            workdir,
            pg,
            dovecot,
            template=template_db,
            **benchmark.QUICK,
        )
        # ours on each corpus: every mail stored once
        ours = [r for r in results["summary"]["rows"] if "exactly once" in r]
        ok = bool(ours) and all(r["exactly once"] for r in ours)
        note = "; ".join(
            f"{r['name']}: {r['median msg/s']:.0f} msg/s, "
            f"{r['queries/mail']:.1f} queries/mail"
            for r in ours
        )
    except Exception as exc:  # noqa: BLE001 - report, never hide
        ok, note = False, repr(exc)
    print(f"benchmark --quick: {'ok' if ok else 'FAILED'} - {note}")
    summary.check("benchmark --quick", ok, note[:90])


def run_bench_scale_quick(summary, tree, workdir, pg, template_db):
    """``bench_scale --quick``: keeps the scale benchmark working; its table
    is printed (the 1M figures live in the README)."""
    banner("BENCH_SCALE --quick (own database)")
    from . import bench_scale

    started = time.monotonic()
    try:
        rows = bench_scale.run(
            tree,
            workdir,
            pg,
            bench_scale.QUICK_MAILS,
            reps=1,
            template=template_db,
        )
        print((workdir / "bench_scale.md").read_text()[:6000])
        ours = [r for r in rows if r["user"] == "sales user"]
        slowest = max(ours, key=lambda r: r["median_ms"])
        ok = len(ours) >= 10
        note = (
            f"{len(rows)} requests, slowest {slowest['median_ms']:.0f} ms, "
            f"{time.monotonic() - started:.0f}s"
        )
    except Exception as exc:  # noqa: BLE001 - report, never hide
        ok, note = False, repr(exc)[:300]
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{bench_scale.DB}"')
    print(f"bench_scale --quick: {'ok' if ok else 'FAILED'} - {note}")
    summary.check("bench_scale --quick", ok, note[:60])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-lint", action="store_true")
    parser.add_argument("--no-engine", action="store_true")
    parser.add_argument("--no-odoo", action="store_true")
    parser.add_argument("--no-stress", action="store_true")
    parser.add_argument(
        "--test-tags",
        help="Odoo --test-tags for a partial run, e.g. /crm_mail_client:TestFetch",
    )
    args = parser.parse_args(argv)
    summary = Summary()
    if not args.no_lint:
        run_lints(summary)
    if not args.no_engine:
        run_engine(summary)
    if not args.no_odoo:
        tree, how = odoo_env.find_odoo()
        if tree:
            run_odoo_suite(
                summary, tree, test_tags=args.test_tags, stress=not args.no_stress
            )
        else:
            banner(f"ODOO SUITE SKIPPED: {how}")
            print(f"ODOO SUITE SKIPPED: {how}", flush=True)
            if os.environ.get("REQUIRE_ODOO") == "1":
                summary.check("odoo suite (REQUIRE_ODOO=1)", False, how)
    banner("SUMMARY")
    print("\n".join(summary.lines))
    print(
        f"{summary.passed} passed, {summary.failed} failed, {summary.skipped} skipped",
        flush=True,
    )
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
