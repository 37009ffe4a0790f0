"""The hostile suite's own checks, on made-up input: what counts as a failure
in an answer and in a service's log."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.hostile import afterwards
from tests.hostile.tally import Tally, failed
from tests.hostile.wire import Outcome


def test_an_answer_fails_on_5xx_hang_cut_or_garble_and_closed_only_where_not_allowed() -> None:
    assert failed(Outcome(500, "answered"), may_close=True)
    assert failed(Outcome(None, "timeout"), may_close=True)
    assert failed(Outcome(200, "cut"), may_close=True)
    assert failed(Outcome(None, "garbled"), may_close=True)
    assert failed(Outcome(None, "closed"), may_close=False)
    assert not failed(Outcome(None, "closed"), may_close=True)
    assert not failed(Outcome(422, "answered"), may_close=False)


def test_the_tally_counts_every_answer_and_keeps_failures_without_raw_bytes() -> None:
    tally = Tally()
    tally.record("POST /x", "user", Outcome(400, "answered"), "NUL", may_close=False)
    kept = tally.record("POST /x", "user", Outcome(500, "answered", b"\x00boom"), "NUL", False)
    assert kept and tally.requests() == 2
    assert "400:1 500:1" in tally.table()
    assert "\x00" not in str(tally.failures[0])


def test_the_log_check_finds_tracebacks_5xx_lines_and_long_lines(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    lines = [
        orjson.dumps({"logger": "aiohttp.access", "msg": "request", "status": 200}),
        orjson.dumps({"logger": "aiohttp.access", "msg": "request", "path": "/a", "status": 502}),
        orjson.dumps(
            {
                "logger": "shared.errors",
                "msg": "unhandled error",
                "exc": 'Traceback (most recent call last):\n  File "x.py", line 1, in f\n'
                "    g()\n    ^^^\nValueError: bad\n",
            }
        ),
        b"Traceback (most recent call last):",
        b'  File "y.py", line 2, in h',
        b"KeyError: 'k'",
        orjson.dumps({"msg": "echo", "model": "m" * 20_000}),
    ]
    log.write_bytes(b"\n".join(lines) + b"\n")
    problems = afterwards.log_problems({"gateway": log})
    assert len(problems) == 4, problems
    assert "502 answer" in problems[0]
    assert 'File "x.py", line 1, in f | ValueError: bad' in problems[1]
    assert "raw traceback" in problems[2] and "KeyError: 'k'" in problems[2]
    assert "log line" in problems[3] and len(problems[3]) < 1000
