"""Parse mails in a child process while the caller stores earlier ones.

A fetch spends a third of its time in :func:`.mime.parse`, which holds the
interpreter lock: threads would not run it beside the database work. A
:class:`ParseWorker` runs it in a child: a fresh interpreter that imports
this package only (never the framework), started with the caller's Python
and fed over pipes. The caller hands it a batch, stores the previous batch
meanwhile, then takes the parsed mails, in order.

Nothing depends on the child: a mail it could not parse for any other
reason than a :class:`~.exceptions.ParseError` comes back as ``None`` (the
caller parses it itself and meets the same error), and a child that dies
or hangs makes :meth:`ParseWorker.submit` or :meth:`ParseWorker.result`
raise :class:`WorkerGone`, after which the caller parses everything itself.

Frames are pickles, length-prefixed. The parent unpickles only this
package's classes and plain data.
"""

import contextlib
import io
import json
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time

from . import mime
from .exceptions import ParseError

#: the package as the child imports it (top level, from its folder)
CHILD_PACKAGE = "mail_engine"
#: the only classes a result may hold: (module as the child names it, name)
RESULT_CLASSES = frozenset(
    {
        (f"{CHILD_PACKAGE}.mime", "ParsedMessage"),
        (f"{CHILD_PACKAGE}.mime", "Attachment"),
        ("datetime", "datetime"),
    }
)
#: a mail larger than this is not sent to the child (the caller parses it:
#: the copy through the pipe would double its memory)
MAX_CHILD_BYTES = 4 * 1024 * 1024
#: seconds a batch may take in the child: it is stopped after that (and
#: the caller gives up waiting sooner when its own time is up)
RESULT_TIMEOUT = 30
#: how often the child checks that its parent still lives (seconds)
ORPHAN_CHECK = 1
_HEADER = struct.Struct("!Q")
# the engine from the addon's folder first, then the caller's own paths
# (where lxml is); -I keeps the user's site and PYTHON* variables out
_CHILD = (
    "import json, sys; sys.path[:0] = [sys.argv[1]]; "
    "sys.path += [p for p in json.loads(sys.argv[2]) if p not in sys.path]; "
    "from mail_engine.parse_worker import serve; serve(parent=int(sys.argv[3]))"
)


class WorkerGone(Exception):
    """The child died, hung or answered nonsense: parse in the caller."""


def _write_frame(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_exact(stream, size):
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream):
    """The next frame's bytes, or None at the end of the stream."""
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        return None
    return _read_exact(stream, _HEADER.unpack(header)[0])


class _ResultUnpickler(pickle.Unpickler):
    """Unpickles the child's results: plain data and the classes of
    :data:`RESULT_CLASSES` only, the engine's as the caller names it."""

    def find_class(self, module, name):
        if (module, name) not in RESULT_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not a parse result")
        if module.startswith(CHILD_PACKAGE + "."):
            module = __package__ + module[len(CHILD_PACKAGE) :]
        return super().find_class(module, name)


def _parse_one(raw, options):
    """``("ok", parsed)``, ``("parse_error", code, detail, message)`` or
    ``("failed", repr)``."""
    try:
        return ("ok", mime.parse(raw, **options))
    except ParseError as error:
        return ("parse_error", error.code, error.detail, str(error))
    except Exception as error:  # noqa: BLE001 - the caller parses it again
        return ("failed", repr(error))


def _die_with_parent(parent):
    """End this process once its parent is gone (killed by a time limit,
    say): an orphan would otherwise parse on for nobody."""
    while True:
        time.sleep(ORPHAN_CHECK)
        if os.getppid() != parent:
            os._exit(1)


def serve(parent):
    """The child's loop: a frame ``(options, [raw or None, ...])`` in, a
    frame of results out, until the end of its input. A batch that takes
    longer than :data:`RESULT_TIMEOUT` ends the child (SIGALRM).

    :param int parent: the process that started it (it may be gone before
        this one runs): when it is gone, this one ends
    """
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    threading.Thread(target=_die_with_parent, args=(parent,), daemon=True).start()
    while True:
        data = _read_frame(stdin)
        if data is None:
            return
        options, raws = pickle.loads(data)
        signal.alarm(RESULT_TIMEOUT)
        results = [None if raw is None else _parse_one(raw, options) for raw in raws]
        signal.alarm(0)
        _write_frame(stdout, results)


class ParseWorker:
    """A child process parsing batches of mails, one after the other.

    :param dict options: keyword arguments of :func:`.mime.parse`
    """

    def __init__(self, options, python=None):
        self.options = dict(options)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._proc = subprocess.Popen(
            [
                python or sys.executable,
                "-I",
                "-c",
                _CHILD,
                root,
                json.dumps(sys.path),
                str(os.getpid()),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self._outbox = queue.Queue()
        self._waiting = 0
        self._gone = None
        # one thread drains the child's answers, so that it never blocks
        # on a full pipe while the caller hands it the next batch
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def available(cls):
        """Whether a child can be started here: more than one CPU, and an
        interpreter that is a Python (not an embedding server)."""
        name = os.path.basename(sys.executable or "")
        return (os.cpu_count() or 1) > 1 and name.startswith("python")

    @property
    def pid(self):
        return self._proc.pid

    @property
    def gone(self):
        """Why the child is of no more use (None while it is)."""
        return self._gone

    def submit(self, raws):
        """Hand over a batch of raw mails; :meth:`result` gives it back.

        A mail over :data:`MAX_CHILD_BYTES` stays with the caller: its
        result is ``None``.

        :raise WorkerGone: the child is of no more use
        """
        if self._gone:
            raise WorkerGone(self._gone)
        raws = [raw if len(raw) <= MAX_CHILD_BYTES else None for raw in raws]
        try:
            _write_frame(self._proc.stdin, (self.options, raws))
        except (OSError, ValueError) as error:
            self._give_up(f"cannot write to the child: {error}")
        self._waiting += 1

    def result(self, timeout=RESULT_TIMEOUT):
        """The oldest submitted batch, parsed: per mail a
        :class:`~.mime.ParsedMessage`, a :class:`~.exceptions.ParseError`
        (the mail is no mail), or ``None`` (parse it yourself).

        :param float timeout: seconds to wait for it at most
        :raise WorkerGone: the child died, hung or answered nonsense; it
            is stopped, and every later call raises too
        """
        if self._gone:
            raise WorkerGone(self._gone)
        if not self._waiting:
            raise ValueError("no batch was submitted")
        try:
            item = self._outbox.get(timeout=max(timeout, 0))
        except queue.Empty:
            item = WorkerGone(f"no answer in {timeout:.0f} s")
        if isinstance(item, Exception):
            self._give_up(str(item))
        self._waiting -= 1
        return [self._result(entry) for entry in item]

    def _give_up(self, reason):
        self._gone = reason
        self.close(wait=0)
        raise WorkerGone(reason)

    @staticmethod
    def _result(entry):
        if entry is None or entry[0] == "failed":
            return None
        if entry[0] == "parse_error":
            _kind, code, detail, message = entry
            return ParseError(message, code=code, detail=detail)
        return entry[1]

    def _read(self):
        while True:
            try:
                data = _read_frame(self._proc.stdout)
            except (OSError, ValueError) as error:
                data, reason = None, str(error)
            else:
                reason = "the child ended"
            if data is None:
                code = self._proc.poll()
                if code is not None:
                    reason += f" (exit code {code})"
                self._outbox.put(WorkerGone(reason))
                return
            try:
                results = _ResultUnpickler(io.BytesIO(data)).load()
            except Exception as error:  # noqa: BLE001 - any bad frame ends it
                self._outbox.put(WorkerGone(f"bad answer: {error!r}"))
                return
            self._outbox.put(results)

    def close(self, wait=5):
        """Stop the child: its input ends, and it is killed unless it ends
        within ``wait`` seconds."""
        with contextlib.suppress(OSError, ValueError):  # gone already
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        with contextlib.suppress(OSError):
            self._proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
