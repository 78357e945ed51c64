import io
import os
import pickle
import random
import signal
import subprocess

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
        worker.submit(corpus()[:3])
        with pytest.raises(WorkerGone):
            worker.result()
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


def test_only_parse_results_are_unpickled():
    data = pickle.dumps([("ok", subprocess.Popen)])
    with pytest.raises(pickle.UnpicklingError):
        parse_worker._ResultUnpickler(io.BytesIO(data)).load()
