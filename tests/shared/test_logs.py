"""The JSON log line: fixed fields first, then what the caller passed in `extra`."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from datetime import UTC, datetime

import orjson

from shared.logs import JsonFormatter, request_id_var


def _record(created: float, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("tollgate.test")
    record = logger.makeRecord(
        "tollgate.test", logging.INFO, __file__, 1, "hello %s", ("there",), None, extra=extra
    )
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def test_a_line_holds_the_fixed_fields_and_the_callers_extra_ones() -> None:
    formatter = JsonFormatter("gateway")
    token = request_id_var.set("req-1")
    try:
        line = orjson.loads(formatter.format(_record(1_700_000_000.25, usage={"input": 3}, n=1)))
    finally:
        request_id_var.reset(token)
    assert line == {
        "ts": "2023-11-14T22:13:20.250Z",
        "level": "info",
        "service": "gateway",
        "logger": "tollgate.test",
        "msg": "hello there",
        "request_id": "req-1",
        "usage": {"input": 3},
        "n": 1,
    }


def test_the_timestamp_follows_each_record_across_seconds() -> None:
    formatter = JsonFormatter("gateway")
    stamps = [
        orjson.loads(formatter.format(_record(created)))["ts"]
        for created in (1_700_000_000.999, 1_700_000_001.0, 1_700_000_001.5, 1_700_000_000.125)
    ]
    assert stamps == [
        "2023-11-14T22:13:20.999Z",
        "2023-11-14T22:13:21.000Z",
        "2023-11-14T22:13:21.500Z",
        "2023-11-14T22:13:20.125Z",
    ]


def test_a_record_formatted_twice_gains_no_fields() -> None:
    """Another handler's formatter adds `message` (and `asctime`) to the record itself."""
    record = _record(time.time(), usage={"input": 3})
    logging.Formatter("%(asctime)s %(message)s").format(record)
    line = orjson.loads(JsonFormatter("gateway").format(record))
    assert set(line) == {"ts", "level", "service", "logger", "msg", "usage"}


def test_a_client_string_in_an_extra_field_is_capped_and_marked() -> None:
    """A 70,000-character model name once made one line longer than `tollgate dev`'s
    64 KiB read limit."""
    model = "m" * 70_000
    line = JsonFormatter("gateway").format(
        _record(time.time(), usage={"requested_model": model, "input_tokens": 3})
    )
    assert len(line) < 2_000
    usage = orjson.loads(line)["usage"]
    assert usage["requested_model"] == "m" * 1_000 + "…(+69000 chars)"
    assert usage["input_tokens"] == 3


def test_a_long_message_and_many_long_strings_are_capped() -> None:
    logger = logging.getLogger("tollgate.test")
    record = logger.makeRecord(
        "tollgate.test",
        logging.WARNING,
        __file__,
        1,
        "path %s",
        ("/" + "p" * 50_000,),
        None,
        extra={"parts": ["y" * 5_000] * 500, "table": {str(n): "z" * 5_000 for n in range(500)}},
    )
    line = JsonFormatter("gateway").format(record)
    assert len(line) < 40_000
    parsed = orjson.loads(line)
    assert parsed["msg"].endswith("…(+49006 chars)")
    assert "(+" in parsed["parts"] and "(+" in parsed["table"]


def test_undecodable_text_and_huge_integers_do_not_lose_the_line() -> None:
    """orjson refuses lone surrogates (an undecodable header byte) and integers past
    64 bits: the line is written anyway."""
    line = orjson.loads(
        JsonFormatter("gateway").format(_record(time.time(), agent="a\udcffb", n=2**70))
    )
    assert line["agent"] == "a\ufffdb" and line["n"] == str(2**70)


def test_a_long_traceback_keeps_its_end() -> None:
    try:
        raise ValueError("x" * 50_000 + "THE END")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.getLogger("t").makeRecord("t", logging.ERROR, "f", 1, "m", (), exc_info)
    line = orjson.loads(JsonFormatter("gateway").format(record))
    assert line["exc"].startswith("…(") and line["exc"].endswith("THE END")
    assert len(line["exc"]) < 17_000


def test_ordinary_values_are_written_as_before() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = uuid.UUID(int=7)
    line = orjson.loads(
        JsonFormatter("gateway").format(_record(time.time(), at=when, id=ident, xs=[1, "a"]))
    )
    assert line["at"] == "2025-01-02T03:04:05+00:00"
    assert line["id"] == str(ident) and line["xs"] == [1, "a"]
