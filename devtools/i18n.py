"""Translations: export the .pot from a database and check ru.po covers it.

``python -m devtools.i18n`` regenerates ``i18n/crm_mail_client.pot`` (a
throw-away database), rewrites ru.po in the .pot's order keeping its
translations, and writes the terms it lacks into ``missing.json``;
``python -m devtools.i18n --merge FILE.json`` adds translations from such a
file (``{msgid: msgstr}``, escaped as in a .po). The test runner calls
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
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", ".*cache", "bridges"
)


def module_dir(module):
    """The source folder of the addon or of one of its bridges."""
    if module == odoo_env.ADDON_NAME:
        return odoo_env.REPO
    return odoo_env.BRIDGES / module


def pot_path(module):
    return module_dir(module) / "i18n" / f"{module}.pot"


def po_path(module):
    return module_dir(module) / "i18n" / "ru.po"


def modules():
    """The addon and its bridges: each has its own .pot and ru.po."""
    return odoo_env.addon_names()


def clean_addons_dir(workdir):
    """A copy of the addon and its bridges without venv, caches or git: the
    exporter walks it."""
    folder = Path(workdir) / "clean-addons"
    shutil.rmtree(folder, ignore_errors=True)
    for module in modules():
        shutil.copytree(
            module_dir(module), folder / module, ignore=IGNORED, symlinks=True
        )
    return folder


def export_pot(tree, workdir, pg, db, out, module=odoo_env.ADDON_NAME):
    """Export one module's terms from ``db`` into ``out``.

    :return: (returncode, log text)
    """
    clean = clean_addons_dir(workdir)
    args = [
        "-d",
        db,
        f"--i18n-export={out}",
        f"--modules={module}",
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


def merge_po(pot_path=POT, po_path=RU_PO, extra=None):
    """Rewrite ru.po from the .pot, keeping its translations.

    Each .pot entry gets the msgstr ru.po had for its msgid, else the one in
    ``extra``; ru.po's header is kept. Terms gone from the .pot disappear.

    :param dict extra: new translations, ``{msgid: msgstr}`` written as in a
        .po file (escaped, without the quotes)
    :return: list of msgids still untranslated
    """
    old_text = Path(po_path).read_text() if Path(po_path).exists() else ""
    known = {i: t for i, t in _entries(old_text) if t}
    known.update({i: t for i, t in (extra or {}).items() if t})
    header = re.split(r"\n\s*\n", old_text)[0] if old_text else ""
    blocks, missing = [], []
    for block in re.split(r"\n\s*\n", Path(pot_path).read_text().strip()):
        found = _entries(block + "\n")
        if not found:
            blocks.append(header or block)
            continue
        msgid = found[0][0]
        if msgid in known:
            block = re.sub(
                r'^msgstr ""(\n".*")*$',
                lambda _m, t=known[msgid]: f'msgstr "{t}"',
                block,
                flags=re.M,
            )
        else:
            missing.append(msgid)
        blocks.append(block)
    Path(po_path).write_text("\n\n".join(blocks) + "\n")
    return missing


def main():
    import json

    if len(sys.argv) == 3 and sys.argv[1] == "--merge":
        # python -m devtools.i18n --merge new_terms.json  ({msgid: msgstr})
        extra = json.loads(Path(sys.argv[2]).read_text())
        for module in modules():
            missing = merge_po(pot_path(module), po_path(module), extra=extra)
            print(f"{po_path(module)}: merged; {len(missing)} terms still missing")
            for msgid in missing:
                print("  " + msgid[:100])
        return
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
                # Project brings the bridge (it installs itself)
                f"{odoo_env.ADDON_NAME},project",
                "--stop-after-init",
                "--without-demo=all",
                "--log-level=warn",
            ],
            workdir / "install.log",
        )
        if code:
            sys.exit(log[-3000:])
        for module in modules():
            pot_path(module).parent.mkdir(exist_ok=True)
            code, log = export_pot(
                tree, workdir, pg, "i18n", pot_path(module), module=module
            )
            if code:
                sys.exit(log[-3000:])
    finally:
        pg.stop()
    missing = []
    for module in modules():
        lacking = merge_po(pot_path(module), po_path(module))
        print(f"{pot_path(module)}: written; ru.po lacks {len(lacking)} terms")
        missing += [msgid for msgid in lacking if msgid not in missing]
    out = workdir / "missing.json"
    out.write_text(json.dumps(dict.fromkeys(missing, ""), ensure_ascii=False, indent=1))
    print(f"untranslated terms: {out} (fill in, then --merge it)")
    for msgid in missing:
        print("  " + msgid[:100])


if __name__ == "__main__":
    main()
