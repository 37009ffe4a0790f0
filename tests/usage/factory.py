"""Usage events as the gateway publishes them (docs/usage-event.md), for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def usage_event(
    user_id: str | uuid.UUID,
    event_id: str | None = None,
    /,
    *,
    at: datetime = BASE_TIME,
    model: str = "gpt-4o-mini",
    **overrides: Any,
) -> dict[str, Any]:
    """A complete schema-v2 event; `overrides` replace or add fields."""
    event: dict[str, Any] = {
        "v": 2,
        "event_id": event_id or f"req_{uuid.uuid4().hex}",
        "ts": iso(at),
        "user_id": str(user_id),
        "key_id": str(uuid.uuid4()),
        "channel_id": str(uuid.uuid4()),
        "endpoint": "openai_chat",
        "requested_model": model,
        "upstream_model": model,
        "stream": True,
        "status": "ok",
        "http_status": 200,
        "error_code": None,
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_tokens": 5,
        "cache_write_tokens": 0,
        "reasoning_tokens": 3,
        "web_search_requests": 0,
        "usage_source": "upstream",
        "ttfb_ms": 120.5,
        "latency_ms": 840.25,
        "client_ip": "203.0.113.7",
        "user_agent": "OpenAI/Python 1.40.0",
        "hold_id": "hold_1",
        "hold_amount": "0.050000",
        "cost": "0.000150",
        "price_multiplier": "1",
    }
    event.update(overrides)
    return event


def series(
    user_id: str | uuid.UUID, count: int, *, start: datetime = BASE_TIME, step_s: float = 60
) -> list[dict[str, Any]]:
    """`count` events one `step_s` apart, ids in time order."""
    return [
        usage_event(user_id, f"req_{n:05d}", at=start + timedelta(seconds=n * step_s))
        for n in range(count)
    ]
