"""The page cursor: a round trip, and what is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from services.usage import cursor
from services.usage.cursor import Cursor


def test_a_cursor_names_its_position_exactly() -> None:
    position = Cursor(datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), "req_ü/1")
    assert cursor.decode(cursor.encode(position)) == position


def test_a_cursor_time_is_read_as_utc() -> None:
    text = _b64(b'["2025-03-01T14:00:00+02:00", "req_1"]')
    assert cursor.decode(text).occurred_at.tzinfo is UTC


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "!!!",
        "é",
        _b64(b"not json"),
        _b64(b"{}"),
        _b64(b'["2025-03-01T12:00:00+00:00"]'),
        _b64(b'["2025-03-01T12:00:00+00:00", ""]'),
        _b64(b'["2025-03-01T12:00:00", "req_1"]'),
        _b64(b'["tomorrow", "req_1"]'),
        _b64(b'[1, "req_1"]'),
        "A" * 600,
        _b64(b'["2025-03-01T12:00:00+00:00", "a\\u0000b"]'),
        _b64(b'["2025-03-01T12:00:00+00:00", "' + b"r" * 201 + b'"]'),
        _b64(b'["9999-12-31T23:59:59-14:00", "req_1"]'),
        _b64(b'["9999-12-31T23:59:59+00:00", "req_1"]'),
        _b64(b'["0001-01-01T00:00:00+14:00", "req_1"]'),
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        cursor.decode(text)
