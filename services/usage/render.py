"""How usage records and summaries look to a client: JSON objects and CSV rows.

Pure. Money is a decimal string (never a float), every digit kept, trailing
zeros dropped; times are ISO 8601 in UTC with a `Z`; ids are strings. A CSV
cell that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`,
`@`, a tab or a carriage return) gets a leading `'`: a model name or a user
agent is chosen by whoever held the key, and an export must not run it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

RECORD_FIELDS = (
    "event_id",
    "occurred_at",
    "key_id",
    "model",
    "endpoint",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost",
    "status",
    "http_status",
    "error_code",
    "latency_ms",
    "ttfb_ms",
    "client_ip",
    "user_agent",
    "stream",
    "usage_source",
    "partial",
)
TOTAL_FIELDS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "errors",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def decimal_string(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def utc_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_time(value)
    if isinstance(value, Decimal):
        return decimal_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # uuid


def record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One usage record as JSON: the fields of `RECORD_FIELDS`, in that order."""
    return {name: _plain(row[name]) for name in RECORD_FIELDS}


def summary_row(row: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """One summary row: its keys (`day`, `model` or both), then its sums."""
    totals = {name: row[name] or 0 for name in TOTAL_FIELDS}
    named = {key: _plain(row[key]) for key in keys}
    return {**named, **totals, "cost": decimal_string(row["cost"] or Decimal(0))}


def totals(row: Mapping[str, Any]) -> dict[str, Any]:
    """Sums over records (`store.totals`), shaped as a summary's `total`."""
    return {
        **{name: row[name] or 0 for name in TOTAL_FIELDS},
        "cost": decimal_string(row["cost"] or Decimal(0)),
    }


def total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of rendered summary rows."""
    summed: dict[str, Any] = {name: sum(r[name] for r in rows) for name in TOTAL_FIELDS}
    summed["cost"] = decimal_string(sum((Decimal(r["cost"]) for r in rows), Decimal(0)))
    return summed


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return str(value)


class CsvBody:
    """An export as CSV: a header line, then one line per record."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def opening(self) -> bytes:
        return self._take([RECORD_FIELDS])

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        rendered = (record(row) for row in rows)
        return self._take([_csv_cell(r[name]) for name in RECORD_FIELDS] for r in rendered)

    def closing(self) -> bytes:
        return b""

    def _take(self, lines: Iterable[Iterable[Any]]) -> bytes:
        self._writer.writerows(lines)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


class JsonBody:
    """An export as one JSON array of the objects `GET /api/usage` returns."""

    def __init__(self) -> None:
        self._separator = b"\n"

    def opening(self) -> bytes:
        return b"["

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        parts = []
        for row in rows:
            parts.append(self._separator + orjson.dumps(record(row)))
            self._separator = b",\n"
        return b"".join(parts)

    def closing(self) -> bytes:
        return b"\n]\n"
