"""Reading usage events into records: what is kept, what is refused, what is dropped."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.usage.events import UsageRecord, read_event
from shared.usage_event import UsageEventError
from tests.usage.factory import usage_event

USER = uuid.uuid4()
ALLOWED = {
    "event_id", "occurred_at", "user_id", "key_id", "model", "endpoint",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost", "status", "http_status", "error_code", "latency_ms",
    "ttfb_ms", "client_ip", "user_agent", "stream", "usage_source", "channel_id",
    "partial",
}  # fmt: skip


def test_a_complete_event_becomes_its_record() -> None:
    event = usage_event(USER, "req_1", ts="2025-03-01T14:00:00.5+02:00", model="gpt-4o")
    record = read_event(event)
    assert record.event_id == "req_1"
    assert record.occurred_at == datetime(2025, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert record.user_id == USER
    assert record.key_id == uuid.UUID(event["key_id"])
    assert record.channel_id == uuid.UUID(event["channel_id"])
    assert record.model == "gpt-4o"
    assert (record.input_tokens, record.output_tokens) == (100, 20)
    assert (record.cache_read_tokens, record.cache_write_tokens, record.reasoning_tokens) == (
        5,
        0,
        3,
    )
    assert record.cost == Decimal("0.000150")
    assert (record.status, record.http_status, record.error_code) == ("ok", 200, None)
    assert (record.latency_ms, record.ttfb_ms) == (840.25, 120.5)
    assert (record.client_ip, record.user_agent) == ("203.0.113.7", "OpenAI/Python 1.40.0")
    assert record.stream is True and record.usage_source == "upstream"


def test_a_record_has_only_the_fields_privacy_allows() -> None:
    assert {field.name for field in fields(UsageRecord)} == ALLOWED
    event = usage_event(USER, messages=[{"role": "user", "content": "secret prompt"}])
    assert "secret prompt" not in repr(read_event(event))


def test_model_is_the_requested_one_then_the_upstream_one() -> None:
    assert read_event(usage_event(USER, requested_model="a", upstream_model="b")).model == "a"
    assert read_event(usage_event(USER, requested_model=None, upstream_model="b")).model == "b"
    assert read_event(usage_event(USER, requested_model=None, upstream_model=None)).model == ""


def test_missing_counts_are_zero_and_cost_may_be_absent() -> None:
    event = usage_event(USER)
    for name in ("cache_write_tokens", "reasoning_tokens", "cost"):
        del event[name]
    record = read_event(event)
    assert record.cache_write_tokens == 0 and record.reasoning_tokens == 0
    assert record.cost is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"v": 3}, "v"),
        ({"v": True}, "v"),
        ({"price_multiplier": "0"}, "price_multiplier"),
        ({"user_id": None}, "user_id"),
        ({"user_id": "not-a-uuid"}, "user_id"),
        ({"ts": "yesterday"}, "ts"),
        ({"ts": "2025-03-01T12:00:00"}, "ts"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": "12"}, "output_tokens"),
        ({"cache_read_tokens": True}, "cache_read_tokens"),
        ({"web_search_requests": 2**63}, "web_search_requests"),
    ],
)
def test_an_event_that_cannot_be_recorded_is_refused(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(UsageEventError) as refused:
        read_event(usage_event(USER, "req_bad", **overrides))
    assert refused.value.field == field
    assert refused.value.event_id == "req_bad"


@pytest.mark.parametrize("event_id", [None, "", 42, "x" * 201, "req\x00"])
def test_an_event_without_a_usable_id_is_refused(event_id: Any) -> None:
    event = usage_event(USER)
    event["event_id"] = event_id
    with pytest.raises(UsageEventError) as refused:
        read_event(event)
    assert refused.value.field == "event_id" and refused.value.event_id is None


def test_a_missing_user_id_is_refused_naming_the_event() -> None:
    event = usage_event(USER, "req_orphan")
    del event["user_id"]
    with pytest.raises(UsageEventError) as refused:
        read_event(event)
    assert (refused.value.event_id, refused.value.field) == ("req_orphan", "user_id")


@pytest.mark.parametrize(
    ("overrides", "attribute", "repaired"),
    [
        ({"http_status": "200"}, "http_status", 0),
        ({"http_status": None}, "http_status", 0),
        ({"reasoning_tokens": 2**63}, "reasoning_tokens", 0),
        ({"endpoint": "\x00"}, "endpoint", "unknown"),
        ({"status": 5}, "status", "unknown"),
        ({"latency_ms": "slow"}, "latency_ms", 0.0),
    ],
)
def test_a_malformed_detail_of_a_not_null_column_gets_its_default(
    overrides: dict[str, Any], attribute: str, repaired: object
) -> None:
    assert getattr(read_event(usage_event(USER, **overrides)), attribute) == repaired


@pytest.mark.parametrize(
    ("overrides", "attribute"),
    [
        ({"client_ip": "999.1.1.1"}, "client_ip"),
        ({"key_id": "nope"}, "key_id"),
        ({"channel_id": 7}, "channel_id"),
        ({"cost": "abc"}, "cost"),
        ({"cost": "NaN"}, "cost"),
        ({"cost": "-1"}, "cost"),
        ({"cost": "1e30"}, "cost"),
        ({"cost": True}, "cost"),
        ({"ttfb_ms": float("inf")}, "ttfb_ms"),
        ({"ttfb_ms": 10**400}, "ttfb_ms"),
        ({"error_code": 5}, "error_code"),
        ({"user_agent": ["x"]}, "user_agent"),
    ],
)
def test_a_malformed_detail_becomes_null(overrides: dict[str, Any], attribute: str) -> None:
    assert getattr(read_event(usage_event(USER, **overrides)), attribute) is None


def test_text_loses_nul_characters_and_the_user_agent_is_cut() -> None:
    record = read_event(usage_event(USER, user_agent="a\x00b" + "c" * 600, model="m\x00"))
    assert record.user_agent is not None and "\x00" not in record.user_agent
    assert len(record.user_agent) == 512 and record.model == "m"


def test_ipv6_and_numeric_costs_are_read() -> None:
    record = read_event(usage_event(USER, client_ip="2001:DB8::1", cost=0.25))
    assert record.client_ip == "2001:db8::1"
    assert record.cost == Decimal("0.25")


def test_a_call_cut_short_is_recorded_as_partial() -> None:
    assert read_event(usage_event(USER, "req_cut", partial=True)).partial is True
    # Events older than the field, and anything but true, read as a whole call.
    assert read_event(usage_event(USER, "req_old")).partial is False
    assert read_event(usage_event(USER, "req_odd", partial="yes")).partial is False
