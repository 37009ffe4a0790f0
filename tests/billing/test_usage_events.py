"""What billing charges for a usage event: the projection of the shared decoder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.billing.usage_events import UsageEventError, read_event
from tests.billing.conftest import usage_event

USER = uuid.uuid4()


def test_a_gateway_event_reads_whole() -> None:
    raw = usage_event("req-1", user_id=USER, input_tokens=10, output_tokens=5, cache_read_tokens=2)
    event = read_event(raw)
    assert event.event_id == "req-1" and event.user_id == USER
    assert event.ts == datetime.fromisoformat(raw["ts"]) and event.ts.tzinfo is not None
    assert (event.input_tokens, event.output_tokens, event.cache_read_tokens) == (10, 5, 2)
    assert event.model == "m" and event.hold_id == raw["hold_id"] and event.has_usage


def test_the_requested_model_is_priced_else_the_upstream_one() -> None:
    raw = {**usage_event(user_id=USER), "requested_model": "alias", "upstream_model": "real"}
    assert read_event(raw).model == "alias"
    assert read_event({**raw, "requested_model": None}).model == "real"
    assert read_event({**raw, "requested_model": None, "upstream_model": None}).model is None


def test_missing_counts_are_zero() -> None:
    raw = usage_event(user_id=USER)
    for name in ("input_tokens", "web_search_requests", "hold_id"):
        del raw[name]
    event = read_event(raw)
    assert event.input_tokens == 0 and event.web_search_requests == 0 and event.hold_id is None
    assert not event.has_usage


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"v": 3}, "schema version"),
        ({"price_multiplier": "-1"}, "price_multiplier"),
        ({"price_multiplier": None}, "price_multiplier"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": 7}, "event_id"),
        ({"user_id": "not-a-uuid"}, "user_id"),
        ({"user_id": None}, "user_id"),
        ({"ts": "2025-01-01T00:00:00"}, "time zone"),
        ({"ts": "yesterday"}, "ts"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": 1.5}, "output_tokens"),
        ({"cache_read_tokens": "3"}, "cache_read_tokens"),
        ({"cache_write_tokens": True}, "cache_write_tokens"),
        ({"web_search_requests": 10**13}, "web_search_requests"),
    ],
)
def test_unreadable_events_are_refused_never_guessed(
    change: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(UsageEventError, match=complaint):
        read_event({**usage_event(user_id=USER), **change})


def test_a_utc_z_suffix_is_read() -> None:
    event = read_event({**usage_event(user_id=USER), "ts": "2025-03-01T10:00:00Z"})
    assert event.ts == datetime(2025, 3, 1, 10, tzinfo=UTC)


def test_a_malformed_model_is_repaired_never_refused() -> None:
    raw = {**usage_event(user_id=USER), "upstream_model": "real"}
    assert read_event({**raw, "requested_model": 12}).model == "real"
    assert read_event({**raw, "requested_model": "\x00"}).model == "real"
    assert read_event({**raw, "requested_model": "a\x00" + "b" * 300}).model == "a" + "b" * 199
