"""The opaque page cursor of `GET /api/usage`.

Pure. A cursor is the position of the last record of a page, (occurred_at,
event_id), as URL-safe base64 of a small JSON array. It is opaque to clients
but not secret: it only moves a position inside the caller's own records,
which every query filters by the caller's id whatever the cursor says. A
forged cursor is still client text: its event id and time are checked as
any parameter is (`client_input`), so it can never reach a query with a NUL
or a time PostgreSQL or Python cannot hold.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from shared.client_input import text_problem, time_problem

MAX_LENGTH = 512
MAX_EVENT_ID = 200


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
    if time_problem(occurred_at) is not None:
        raise ValueError("cursor time has no zone or is out of range")
    if text_problem(value[1], max_length=MAX_EVENT_ID, controls="none") is not None:
        raise ValueError("cursor event id is not one")
    return Cursor(occurred_at.astimezone(UTC), value[1])
