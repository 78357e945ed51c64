"""Translations: export the .pot from a database and check ru.po covers it.

``python -m devtools.i18n`` regenerates ``i18n/crm_mail_client.pot`` (a
throw-away database) and lists the terms ru.po lacks. The test runner calls
:func:`check_po` on the test database, so a missing Russian term fails CI.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import odoo_env

POT = odoo_env.REPO / "i18n" / f"{odoo_env.ADDON_NAME}.pot"
RU_PO = odoo_env.REPO / "i18n" / "ru.po"
IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".*cache")


def clean_addons_dir(workdir):
    """A copy of the addon without venv, caches or git: the exporter walks it."""
    target = Path(workdir) / "clean-addons" / odoo_env.ADDON_NAME
    shutil.rmtree(target.parent, ignore_errors=True)
    shutil.copytree(odoo_env.REPO, target, ignore=IGNORED, symlinks=True)
    return target.parent


def export_pot(tree, workdir, pg, db, out):
    """Export the addon's terms from ``db`` into ``out``.

    :return: (returncode, log text)
    """
    clean = clean_addons_dir(workdir)
    args = [
        "-d",
        db,
        f"--i18n-export={out}",
        f"--modules={odoo_env.ADDON_NAME}",
        "--stop-after-init",
        "--log-level=warn",
        "--addons-path",
        f"{clean},{Path(tree, 'odoo', 'addons')}",
    ]
    cmd = odoo_env.odoo_command(tree, workdir, pg, *args)
    # the later --addons-path wins: drop the symlinked one odoo_command adds
    first = cmd.index("--addons-path")
    del cmd[first : first + 2]
    log_path = Path(workdir) / "i18n-export.log"
    with open(log_path, "w") as log:
        proc = subprocess.run(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=odoo_env.odoo_env(tree),
            cwd=workdir,
            timeout=900,
        )
    return proc.returncode, log_path.read_text(errors="replace")


def _entries(po_text):
    """(msgid, msgstr) pairs of a .po file (multi-line strings joined)."""
    entries = []
    for block in re.split(r"\n\s*\n", po_text):
        msgid = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
        msgstr = re.search(r'^msgstr ((?:".*"\n?)+)', block, re.M)
        if not msgid:
            continue
        join = lambda m: "".join(re.findall(r'"(.*)"', m.group(1))) if m else ""  # noqa: E731
        entries.append((join(msgid), join(msgstr)))
    return [(i, s) for i, s in entries if i]


def check_po(pot_path, po_path=RU_PO):
    """Terms of the .pot that ru.po does not translate.

    :return: list of missing msgids (empty when complete)
    """
    if not Path(po_path).exists():
        return ["<no i18n/ru.po>"]
    translated = {i for i, s in _entries(Path(po_path).read_text()) if s}
    return [i for i, _s in _entries(Path(pot_path).read_text()) if i not in translated]


def main():
    from .postgres import Postgres

    tree, how = odoo_env.find_odoo()
    if not tree:
        sys.exit(f"Odoo not found: {how}")
    workdir = odoo_env.DEVDATA / "i18n"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    pg = Postgres(workdir / "pg")
    try:
        pg.start()
        code, log = odoo_env.run_odoo(
            tree,
            workdir,
            pg,
            [
                "-d",
                "i18n",
                "-i",
                odoo_env.ADDON_NAME,
                "--stop-after-init",
                "--without-demo=all",
                "--log-level=warn",
            ],
            workdir / "install.log",
        )
        if code:
            sys.exit(log[-3000:])
        code, log = export_pot(tree, workdir, pg, "i18n", POT)
        if code:
            sys.exit(log[-3000:])
    finally:
        pg.stop()
    missing = check_po(POT)
    print(f"{POT}: written; ru.po lacks {len(missing)} terms")
    for msgid in missing:
        print("  " + msgid[:100])


if __name__ == "__main__":
    main()
