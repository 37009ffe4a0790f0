"""Reading a usage event (docs/usage-event.md, schema version 1) for charging.

Pure, no IO. Billing reads only what pricing and the dedupe record need: the
event id, the user, the time, the model, the token counts and the hold. Rules:

- The event id is the idempotency key; it must be a non-empty string of at
  most 200 characters.
- `ts` is an ISO 8601 time with a zone: the event is priced at the price in
  force then.
- The model priced is `requested_model` (what the client asked for, which the
  gateway priced for the hold), else `upstream_model`, else none.
- A missing or null count is 0. A count that is not a non-negative integer
  makes the event unreadable (`UsageEventError`): it is never guessed, since
  a guess would be a wrong charge that can never be redone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

SCHEMA_VERSION = 1
MAX_TOKENS = 10**12  # far above any real request; keeps costs inside numeric(30, 12)
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "web_search_requests",
)


class UsageEventError(ValueError):
    """The event cannot be charged as it is; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageCharge:
    """What one usage event asks billing to charge."""

    event_id: str
    user_id: uuid.UUID
    ts: datetime
    model: str | None
    hold_id: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    web_search_requests: int = 0

    @property
    def has_usage(self) -> bool:
        return any(getattr(self, name) for name in TOKEN_FIELDS)


def event_id_of(event: Mapping[str, object]) -> str | None:
    """The event id when there is a usable one, for reporting a bad event."""
    value = event.get("event_id")
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def read_event(event: Mapping[str, object]) -> UsageCharge:
    if event.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise UsageEventError(f"unknown schema version {event.get('v')!r}")
    event_id = event_id_of(event)
    if event_id is None:
        raise UsageEventError("event_id: a string of 1 to 200 characters is required")
    counts = {name: _count(event, name) for name in TOKEN_FIELDS}
    return UsageCharge(
        event_id=event_id,
        user_id=_user_id(event.get("user_id")),
        ts=_timestamp(event.get("ts")),
        model=_optional_text(event, "requested_model") or _optional_text(event, "upstream_model"),
        hold_id=_optional_text(event, "hold_id"),
        **counts,
    )


def _user_id(value: object) -> uuid.UUID:
    if not isinstance(value, str):
        raise UsageEventError("user_id: a UUID string is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageEventError(f"user_id: not a UUID: {value!r}") from None


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise UsageEventError("ts: an ISO 8601 time string is required")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageEventError(f"ts: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise UsageEventError(f"ts: must carry a time zone: {value!r}")
    return parsed


def _optional_text(event: Mapping[str, object], name: str) -> str | None:
    value = event.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise UsageEventError(f"{name}: a string of at most 200 characters, or null")
    return value


def _count(event: Mapping[str, object], name: str) -> int:
    value = event.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise UsageEventError(f"{name}: not a count: {value!r}")
    return value
