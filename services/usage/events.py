"""Usage events (schema v1, docs/usage-event.md) read into usage records.

Pure: one decoded event in, one `UsageRecord` out, or `InvalidEvent`. Rules:

- Only what DESIGN.md section 8 allows is read: time, user, key, model,
  endpoint, token counts, cost, status, error code, latency, source IP, user
  agent, and how the request was served (stream, usage source, channel). Any
  other field of the event is ignored; no field ever holds prompt text.
- Validation is minimal but total: whatever would make the batch's SQL fail
  (a wrong type, a number out of range, a NUL character) is refused or dropped
  here, so one bad event can never block a batch.
- An event is refused when it cannot be recorded meaningfully: not schema
  version 1, no event id, no user id, no timestamp, token counts or HTTP
  status that are not integers in range. `InvalidEvent` carries the event id
  and the name of the field at fault, never a value.
- Optional details that are malformed (an IP, a key id, a cost, a latency)
  become NULL: the record still counts for its user.
- `model` is the requested model, else the upstream model, else "".
"""

from __future__ import annotations

import ipaddress
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

SCHEMA_VERSION = 1
MAX_EVENT_ID = 200
MAX_TOKENS = 2**63 - 1
MAX_COST = Decimal(10) ** 18  # numeric(30, 12) holds 18 integer digits
USER_AGENT_LENGTH = 512


class InvalidEvent(ValueError):
    """The event cannot be recorded; `field` names why, `event_id` which one."""

    def __init__(self, event_id: str | None, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.event_id = event_id
        self.field = field


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecord:
    """One row of `usage.records`, in its column order."""

    event_id: str
    occurred_at: datetime
    user_id: uuid.UUID
    key_id: uuid.UUID | None
    model: str
    endpoint: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost: Decimal | None
    status: str
    http_status: int
    error_code: str | None
    latency_ms: float
    ttfb_ms: float | None
    client_ip: str | None
    user_agent: str | None
    stream: bool
    usage_source: str
    channel_id: uuid.UUID | None


def read_event(event: Mapping[str, object]) -> UsageRecord:
    """The record an event makes, or `InvalidEvent`."""
    event_id = _event_id(event.get("event_id"))
    if event.get("v") != SCHEMA_VERSION or isinstance(event.get("v"), bool):
        raise InvalidEvent(event_id, "v", f"schema version must be {SCHEMA_VERSION}")
    user_id = _uuid(event.get("user_id"))
    if user_id is None:
        raise InvalidEvent(event_id, "user_id", "missing or not a uuid")
    return UsageRecord(
        event_id=event_id,
        occurred_at=_timestamp(event.get("ts"), event_id),
        user_id=user_id,
        key_id=_uuid(event.get("key_id")),
        model=_text(event.get("requested_model"), 200)
        or _text(event.get("upstream_model"), 200)
        or "",
        endpoint=_text(event.get("endpoint"), 64) or "unknown",
        input_tokens=_tokens(event, "input_tokens", event_id),
        output_tokens=_tokens(event, "output_tokens", event_id),
        cache_read_tokens=_tokens(event, "cache_read_tokens", event_id),
        cache_write_tokens=_tokens(event, "cache_write_tokens", event_id),
        reasoning_tokens=_tokens(event, "reasoning_tokens", event_id),
        cost=_cost(event.get("cost")),
        status=_text(event.get("status"), 32) or "unknown",
        http_status=_http_status(event.get("http_status"), event_id),
        error_code=_text(event.get("error_code"), 200),
        latency_ms=_milliseconds(event.get("latency_ms")) or 0.0,
        ttfb_ms=_milliseconds(event.get("ttfb_ms")),
        client_ip=_ip(event.get("client_ip")),
        user_agent=_text(event.get("user_agent"), USER_AGENT_LENGTH),
        stream=event.get("stream") is True,
        usage_source=_text(event.get("usage_source"), 32) or "unknown",
        channel_id=_uuid(event.get("channel_id")),
    )


def _event_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_EVENT_ID or "\x00" in value:
        raise InvalidEvent(None, "event_id", "missing or malformed")
    return value


def _timestamp(value: object, event_id: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    raise InvalidEvent(event_id, "ts", "missing or not an ISO 8601 time with a zone")


def _tokens(event: Mapping[str, object], name: str, event_id: str) -> int:
    value = event.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise InvalidEvent(event_id, name, "not a token count")
    return value


def _http_status(value: object, event_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 999:
        raise InvalidEvent(event_id, "http_status", "missing or not an HTTP status")
    return value


def _uuid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _text(value: object, max_length: int) -> str | None:
    if not isinstance(value, str):
        return None
    # PostgreSQL text cannot hold NUL; the rest is kept as sent, cut to length.
    cleaned = value.replace("\x00", "")[:max_length]
    return cleaned or None


def _cost(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):  # ValueError: an int too long to print
        return None
    if not amount.is_finite() or not 0 <= amount < MAX_COST:
        return None
    return amount


def _milliseconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _ip(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
