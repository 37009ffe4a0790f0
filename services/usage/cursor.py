"""The opaque page cursor of `GET /api/usage`.

Pure. A cursor is the position of the last record of a page, (occurred_at,
event_id), as URL-safe base64 of a small JSON array. It is opaque to clients
but not secret: it only moves a position inside the caller's own records,
which every query filters by the caller's id whatever the cursor says.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

MAX_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Cursor:
    occurred_at: datetime
    event_id: str


def encode(position: Cursor) -> str:
    raw = orjson.dumps([position.occurred_at.astimezone(UTC).isoformat(), position.event_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str) -> Cursor:
    """The position a cursor names; ValueError when it is not one of ours."""
    if len(text) > MAX_LENGTH:
        raise ValueError("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, orjson.JSONDecodeError):
        raise ValueError("cursor does not decode") from None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(part, str) for part in value)
        and value[1]
    ):
        raise ValueError("cursor has the wrong shape")
    occurred_at = datetime.fromisoformat(value[0])  # ValueError when malformed
    if occurred_at.tzinfo is None:
        raise ValueError("cursor time has no zone")
    return Cursor(occurred_at, value[1])
