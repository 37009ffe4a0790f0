"""The JSON log line: fixed fields first, then what the caller passed in `extra`."""

from __future__ import annotations

import logging
import time

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
