import io
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.samples import NOT_A_MAIL, mixed_message, sample_message
from mail_engine import parse_worker
from mail_engine.exceptions import ParseError
from mail_engine.mime import parse
from mail_engine.parse_worker import ParseWorker, WorkerGone

OPTIONS = {"save_attachments": True, "max_attachment_bytes": None}


def corpus():
    rng = random.Random(5)
    mails = [sample_message(i, "sales@example.test", rng=rng) for i in range(30)]
    mails += [
        mixed_message(i, "sales@example.test", rng, ("Иван", "ivan@x.example"))
        for i in range(30)
    ]
    return mails


def test_the_child_parses_as_the_caller_would():
    mails = corpus() + [NOT_A_MAIL]
    with ParseWorker(OPTIONS) as worker:
        worker.submit(mails[:25])
        worker.submit(mails[25:])
        results = worker.result() + worker.result()
    assert len(results) == len(mails)
    for raw, result in zip(mails[:-1], results[:-1], strict=True):
        assert result == parse(raw, **OPTIONS)
    assert isinstance(results[-1], ParseError)
    with pytest.raises(ParseError) as inline:
        parse(NOT_A_MAIL, **OPTIONS)
    assert (results[-1].code, results[-1].detail) == (
        inline.value.code,
        inline.value.detail,
    )


def test_a_huge_mail_stays_with_the_caller(monkeypatch):
    monkeypatch.setattr(parse_worker, "MAX_CHILD_BYTES", 2000)
    small, big = sample_message(1, "a@b.test"), b"X" * 3000
    with ParseWorker(OPTIONS) as worker:
        worker.submit([small, big])
        parsed, left = worker.result()
    assert parsed.subject and left is None


def test_a_dead_child_says_so_for_good():
    worker = ParseWorker(OPTIONS)
    try:
        worker.submit(corpus()[:3])
        assert len(worker.result()) == 3
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(WorkerGone):
            worker.submit(corpus()[:3])
            worker.result()
        assert worker.gone
        with pytest.raises(WorkerGone):
            worker.submit(corpus()[:3])
        with pytest.raises(WorkerGone):
            worker.result()
    finally:
        worker.close()


def test_a_hung_child_is_given_up_and_stopped():
    worker = ParseWorker(OPTIONS)
    try:
        os.kill(worker.pid, signal.SIGSTOP)
        worker.submit(corpus()[:3])
        with pytest.raises(WorkerGone, match="no answer"):
            worker.result(timeout=1)
        assert worker._proc.poll() is not None, "the hung child is killed"
    finally:
        worker.close()


def test_close_ends_the_child():
    worker = ParseWorker(OPTIONS)
    worker.close()
    assert worker._proc.returncode == 0


@pytest.mark.parametrize(
    "thing",
    [subprocess.Popen, eval, os.getpid, parse_worker.ParseWorker],
    ids=["Popen", "eval", "os.getpid", "ParseWorker"],
)
def test_only_parse_results_are_unpickled(thing):
    data = pickle.dumps([("ok", thing)], protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(pickle.UnpicklingError):
        parse_worker._ResultUnpickler(io.BytesIO(data)).load()


def test_a_dotted_name_does_not_reach_past_the_classes():
    """Protocol 4 finds ``os.getpid`` as the dotted name of a module
    global; the unpickler allows exact classes only."""
    module, name = b"mail_engine.parse_worker", b"os.getpid"
    data = (
        b"\x80\x04"  # PROTO 4
        + b"\x8c" + bytes([len(module)]) + module  # SHORT_BINUNICODE
        + b"\x8c" + bytes([len(name)]) + name
        + b"\x93."  # STACK_GLOBAL, STOP
    )  # fmt: skip
    assert pickle.loads(data) is os.getpid, "what a plain unpickler would do"
    with pytest.raises(pickle.UnpicklingError):
        parse_worker._ResultUnpickler(io.BytesIO(data)).load()


def test_the_child_ends_with_its_parent():
    """A parent killed mid-batch (a time limit) leaves no orphan parsing
    on for nobody: the child ends within seconds, not at the end of its
    batch (20,000 mails, many seconds of parsing)."""
    script = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from devtools.samples import sample_message\n"
        "from mail_engine.parse_worker import ParseWorker\n"
        "w = ParseWorker({})\n"
        "w.submit([sample_message(1, 'a@b.test')] * 20000)\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(60)\n"
    ) % str(Path(parse_worker.__file__).parent.parent)
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # a zombie of PID 1's is gone for all purposes
        if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.2)
    else:
        pytest.fail("the child outlived its parent")
