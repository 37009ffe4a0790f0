"""A usage record: what the usage service keeps of one usage event.

Pure: a thin projection of `shared.usage_event.UsageEvent`, which reads the
schema (docs/usage-event.md) for every consumer and decides what is refused
and what is repaired. Rules kept here:

- Only what DESIGN.md section 8 allows is kept: time, user, key, model,
  endpoint, token counts, cost, status, error code, latency, source IP, user
  agent, and how the request was served (stream, usage source, channel). No
  field ever holds prompt text.
- NOT NULL columns get a stated default when the event's field was missing
  or repaired away: `model` "" (no model), `endpoint`, `status` and
  `usage_source` "unknown", `http_status` 0, `latency_ms` 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.usage_event import UsageEvent, read

UNKNOWN = "unknown"


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
    partial: bool


def record_of(event: UsageEvent) -> UsageRecord:
    """The record an event makes."""
    return UsageRecord(
        event_id=event.event_id,
        occurred_at=event.ts,
        user_id=event.user_id,
        key_id=event.key_id,
        model=event.model or "",
        endpoint=event.endpoint or UNKNOWN,
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cache_read_tokens=event.cache_read_tokens,
        cache_write_tokens=event.cache_write_tokens,
        reasoning_tokens=event.reasoning_tokens,
        cost=event.cost,
        status=event.status or UNKNOWN,
        http_status=event.http_status if event.http_status is not None else 0,
        error_code=event.error_code,
        latency_ms=event.latency_ms or 0.0,
        ttfb_ms=event.ttfb_ms,
        client_ip=event.client_ip,
        user_agent=event.user_agent,
        stream=event.stream,
        usage_source=event.usage_source or UNKNOWN,
        channel_id=event.channel_id,
        partial=event.partial,
    )


def read_event(fields: Mapping[str, object]) -> UsageRecord:
    """The record of an event held as a parsed JSON object (tests, benchmarks);
    `shared.usage_event.UsageEventError` when it cannot be read."""
    return record_of(read(fields))
