"""Find the Odoo 18 source tree and run Odoo from it.

Order: ``$ODOO_PATH``; an ``odoo`` importable by this Python; a search of
/opt, /srv and /usr/local (and $HOME) for a tree holding ``odoo/release.py``.
"""

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SEARCH_ROOTS = ["/opt", "/srv", "/usr/local", os.path.expanduser("~")]
ADDON_NAME = "crm_mail_client"
REPO = Path(__file__).resolve().parent.parent
#: bridge addons shipped with the addon (each installs itself beside the
#: Odoo app it joins): ``bridges/<name>``
BRIDGES = REPO / "bridges"


def bridge_names():
    """Names of the bridge addons in the repository."""
    return sorted(
        path.name for path in BRIDGES.iterdir() if (path / "__manifest__.py").is_file()
    )


def addon_names():
    """The addon and its bridges: each is tested and translated."""
    return [ADDON_NAME, *bridge_names()]


# Working data (databases, mailboxes, logs, caches) lives OUTSIDE the
# repository: the addon is symlinked from there, and a folder inside the
# repository would make a symlink loop for tools that walk the addon.
DEVDATA = Path(
    os.environ.get("CRM_MAIL_DEVDATA")
    or Path(tempfile.gettempdir())
    / f"crm_mail_client-{hashlib.sha1(str(REPO).encode()).hexdigest()[:8]}"
)


def _is_odoo_tree(path):
    return path and Path(path, "odoo", "release.py").is_file()


def _version(tree):
    text = Path(tree, "odoo", "release.py").read_text(errors="replace")
    match = re.search(r"version_info\s*=\s*\((\d+)", text)
    return int(match.group(1)) if match else None


def find_odoo():
    """Return ``(path of the tree, how it was found)`` or ``(None, reason)``."""
    env_path = os.environ.get("ODOO_PATH")
    if env_path:
        if _is_odoo_tree(env_path):
            return Path(env_path).resolve(), "ODOO_PATH"
        return None, f"ODOO_PATH={env_path} holds no odoo/release.py"
    spec = importlib.util.find_spec("odoo")
    if spec and spec.submodule_search_locations:
        tree = Path(list(spec.submodule_search_locations)[0]).parent
        if _is_odoo_tree(tree):
            return tree, "importable odoo"
    for root in SEARCH_ROOTS:
        root = Path(root)
        if not root.is_dir():
            continue
        # depth 3 like the hook: /opt/<tree>/odoo/release.py, /opt/x/<tree>/...
        for pattern in ("*/odoo/release.py", "*/*/odoo/release.py"):
            for release in sorted(root.glob(pattern)):
                tree = release.parent.parent
                if ".venv" in tree.parts or "site-packages" in tree.parts:
                    continue
                if _version(tree) == 18:
                    return tree, f"found under {root}"
    return (
        None,
        "no Odoo 18 tree in $ODOO_PATH, the Python path, /opt, /srv or /usr/local",
    )


def addons_dir(workdir):
    """A folder holding a symlink named after the addon to this repository,
    and one to each bridge addon.

    Odoo (and oca-gen-addon-readme) take the addon name from the folder name,
    and a clone may be named anything.
    """
    folder = Path(workdir) / "addons"
    folder.mkdir(parents=True, exist_ok=True)
    targets = {ADDON_NAME: REPO, **{name: BRIDGES / name for name in bridge_names()}}
    for name, target in targets.items():
        link = folder / name
        if link.is_symlink() or link.exists():
            if link.resolve() == target:
                continue
            link.unlink()
        link.symlink_to(target, target_is_directory=True)
    return folder


def odoo_command(tree, workdir, pg, *args, python=None, script=False):
    """The argv of ``python -m odoo`` with our addons path and database.

    :param bool script: run Odoo's launcher script (``odoo-bin``, or
        ``setup/odoo`` in a packaged tree) instead: a prefork server starts
        its gevent process again from ``sys.argv[0]``, which ``-m`` breaks
    """
    addons = [str(addons_dir(workdir)), str(Path(tree, "odoo", "addons"))]
    # a subcommand (shell, ...) comes first
    subcommand = [args[0]] if args and not args[0].startswith("-") else []
    args = args[len(subcommand) :]
    launcher = ["-m", "odoo"]
    if script:
        found = [Path(tree, "odoo-bin"), Path(tree, "setup", "odoo")]
        launcher = [str(next(path for path in found if path.is_file()))]
    # "--addons-path=..." also before a subcommand: Odoo then finds the
    # commands of our addon (``crm_mail_watch``) too
    before = [f"--addons-path={','.join(addons)}"] if subcommand else []
    return [
        python or sys.executable,
        *launcher,
        *before,
        *subcommand,
        "--addons-path",
        ",".join(addons),
        "--data-dir",
        str(Path(workdir, "filestore")),
        *pg.odoo_args(),
        *args,
    ]


def odoo_env(tree):
    """Environment for the Odoo process: the tree first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(tree), env.get("PYTHONPATH", "")] if p
    )
    return env


def run_odoo(tree, workdir, pg, args, log_path, timeout=3600, python=None, input=None):
    """Run Odoo to completion, teeing its log to ``log_path``.

    :return: (returncode, log text)
    """
    cmd = odoo_command(tree, workdir, pg, *args, python=python)
    with open(log_path, "w") as log:
        proc = subprocess.run(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=odoo_env(tree),
            timeout=timeout,
            input=input,
            text=True if input is not None else None,
            cwd=str(workdir),
        )
    return proc.returncode, Path(log_path).read_text(errors="replace")


def spawn_odoo(tree, workdir, pg, args, log_path, script=False):
    """Start a long-running Odoo process (a server, the mail watcher) in a
    session of its own, its output in ``log_path``; stop it by its PID.

    :return: the ``subprocess.Popen``, with its open log as ``.log``
    """
    cmd = odoo_command(tree, workdir, pg, *args, script=script)
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=odoo_env(tree),
        cwd=str(workdir),
        start_new_session=True,
    )
    proc.log = log
    return proc
