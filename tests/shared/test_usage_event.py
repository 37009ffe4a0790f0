"""The one decoder of the usage event: what is refused, what is repaired, never a value shown.

Pure: bytes or parsed JSON in, no loop, no stores.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.usage_event import UsageEvent, UsageEventError, decode, read
from tests.usage.factory import usage_event

USER = uuid.uuid4()
DOCUMENTED = {  # docs/usage-event.md's table
    "v", "event_id", "ts", "user_id", "key_id", "channel_id", "endpoint",
    "requested_model", "upstream_model", "stream", "status", "http_status", "error_code",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "web_search_requests", "usage_source", "partial", "ttfb_ms", "latency_ms",
    "client_ip", "user_agent", "hold_id", "hold_amount", "attempts", "cost", "price_multiplier",
}  # fmt: skip


def _raw(**overrides: Any) -> bytes:
    return json.dumps(usage_event(USER, "req_1", **overrides)).encode()


def test_a_gateway_event_decodes_whole() -> None:
    event = decode(_raw(ts="2025-03-01T14:00:00.5+02:00", attempts=2, hold_amount="0.05"))
    assert {field.name for field in fields(UsageEvent)} == DOCUMENTED
    assert event.event_id == "req_1" and event.user_id == USER and event.v == 2
    assert event.price_multiplier == 1
    assert event.ts == datetime(2025, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert (event.input_tokens, event.output_tokens, event.cache_read_tokens) == (100, 20, 5)
    assert (event.reasoning_tokens, event.web_search_requests) == (3, 0)
    assert event.model == "gpt-4o-mini" and event.endpoint == "openai_chat"
    assert (event.status, event.http_status, event.error_code) == ("ok", 200, None)
    assert (event.hold_id, event.hold_amount, event.attempts) == ("hold_1", Decimal("0.05"), 2)
    assert event.cost == Decimal("0.000150") and event.stream is True
    assert (event.client_ip, event.ttfb_ms, event.latency_ms) == ("203.0.113.7", 120.5, 840.25)


def test_the_nul_model_of_issue_15_is_repaired_not_refused() -> None:
    event = decode(_raw(requested_model="\x00", upstream_model=None, http_status=404))
    assert event.requested_model is None and event.model is None
    assert event.input_tokens == 100  # the money fields are untouched
    assert decode(_raw(requested_model="gpt\x00-4o")).model == "gpt-4o"


def test_lone_surrogates_and_invalid_utf8_are_repaired() -> None:
    escaped = _raw().replace(b'"OpenAI/Python 1.40.0"', b'"ua\\ud800x"')
    assert decode(escaped).user_agent == "uax"
    broken = _raw().replace(b'"OpenAI/Python 1.40.0"', b'"ua\xff\xfex"')
    event = decode(broken)
    assert event.user_agent == "ua\ufffd\ufffdx" and event.output_tokens == 20


@pytest.mark.parametrize(
    ("name", "cap"),
    [("user_agent", 512), ("endpoint", 64), ("requested_model", 200), ("error_code", 200)],
)
def test_text_is_cut_to_its_cap(name: str, cap: int) -> None:
    event = read({**usage_event(USER), name: "\x00x" * 100_000})
    assert getattr(event, name) == "x" * cap


def test_a_hold_id_that_needed_repair_is_dropped() -> None:
    assert read(usage_event(USER, hold_id="req_1\x00")).hold_id is None
    assert read(usage_event(USER, hold_id="x" * 201)).hold_id is None
    assert read(usage_event(USER, hold_id="req_1")).hold_id == "req_1"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"v": 3}, "v"),
        ({"v": 2.0}, "v"),
        ({"price_multiplier": None}, "price_multiplier"),
        ({"price_multiplier": 1.5}, "price_multiplier"),
        ({"price_multiplier": "0"}, "price_multiplier"),
        ({"price_multiplier": "-1.5"}, "price_multiplier"),
        ({"price_multiplier": "100.0001"}, "price_multiplier"),
        ({"price_multiplier": "1.00005"}, "price_multiplier"),
        ({"price_multiplier": "NaN"}, "price_multiplier"),
        ({"price_multiplier": "Infinity"}, "price_multiplier"),
        ({"price_multiplier": "1.5\x00"}, "price_multiplier"),
        ({"price_multiplier": "1" * 65}, "price_multiplier"),
        ({"v": True}, "v"),
        ({"v": None}, "v"),
        ({"user_id": "not-a-uuid"}, "user_id"),
        ({"user_id": None}, "user_id"),
        ({"ts": "2025-03-01T12:00:00"}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"ts": 1733000000}, "ts"),
        ({"ts": "9999-12-31T23:59:59-14:00"}, "ts"),
        ({"ts": "0001-01-01T00:00:00+14:00"}, "ts"),
        ({"ts": "9999-12-31T00:00:00Z"}, "ts"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": 1.5}, "output_tokens"),
        ({"cache_read_tokens": "3"}, "cache_read_tokens"),
        ({"cache_write_tokens": True}, "cache_write_tokens"),
        ({"web_search_requests": 10**13}, "web_search_requests"),
        ({"input_tokens": 2**64}, "input_tokens"),
    ],
)
def test_unreadable_money_fields_refuse_the_event(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(UsageEventError) as refused:
        decode(_raw(**overrides))
    assert refused.value.field == field and refused.value.event_id == "req_1"


@pytest.mark.parametrize("event_id", [None, "", 42, "x" * 201, "req\x00", "req\ud800"])
def test_an_event_without_a_usable_id_is_refused(event_id: Any) -> None:
    event = usage_event(USER)
    event["event_id"] = event_id
    with pytest.raises(UsageEventError) as refused:
        read(event)
    assert refused.value.field == "event_id" and refused.value.event_id is None


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"",
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"[" * 100_000,
        b'{"v": 1, "input_tokens": ' + b"9" * 5000 + b"}",
        b'{"v": 1, "event_id": "r", "input_tokens": NaN}',
    ],
)
def test_what_is_not_an_event_object_is_refused(raw: bytes) -> None:
    with pytest.raises(UsageEventError):
        decode(raw)


def test_a_refusal_never_quotes_the_value() -> None:
    for overrides in ({"user_id": "secret-value"}, {"ts": "secret-value"}):
        with pytest.raises(UsageEventError) as refused:
            decode(_raw(**overrides))
        assert "secret-value" not in str(refused.value)


@pytest.mark.parametrize(
    ("overrides", "attribute", "expected"),
    [
        ({"client_ip": "fe80::1%eth0"}, "client_ip", "fe80::1"),
        ({"client_ip": "999.1.1.1"}, "client_ip", None),
        ({"key_id": "nope"}, "key_id", None),
        ({"channel_id": "x" * 10_000}, "channel_id", None),
        ({"cost": "1e-999999"}, "cost", Decimal(0)),
        ({"cost": "1e30"}, "cost", None),
        ({"cost": "-1"}, "cost", None),
        ({"hold_amount": "NaN"}, "hold_amount", None),
        ({"ttfb_ms": -3}, "ttfb_ms", None),
        ({"attempts": -1}, "attempts", None),
        ({"http_status": 10_000}, "http_status", None),
        ({"reasoning_tokens": "many"}, "reasoning_tokens", 0),
        ({"stream": "yes"}, "stream", False),
        ({"partial": 1}, "partial", False),
        ({"partial": True}, "partial", True),
    ],
)
def test_malformed_details_are_repaired(
    overrides: dict[str, Any], attribute: str, expected: object
) -> None:
    assert getattr(read(usage_event(USER, **overrides)), attribute) == expected


def test_a_version_1_event_is_priced_at_a_multiplier_of_1() -> None:
    """Consumers read both versions: version 1 predates groups (DESIGN 13)."""
    event = usage_event(USER, v=1)
    del event["price_multiplier"]
    decoded = read(event)
    assert (decoded.v, decoded.price_multiplier) == (1, Decimal(1))
    # A version 1 event's stray multiplier is not read: version 1 had none.
    assert read({**event, "price_multiplier": "7"}).price_multiplier == 1


def test_a_version_2_event_carries_its_multiplier() -> None:
    assert read(usage_event(USER, price_multiplier="1.5")).price_multiplier == Decimal("1.5")
    assert read(usage_event(USER, price_multiplier="1.2500")).price_multiplier == Decimal("1.25")
    assert read(usage_event(USER, price_multiplier="100")).price_multiplier == 100
    assert read(usage_event(USER, price_multiplier="0.0001")).price_multiplier == Decimal("0.0001")


def test_missing_counts_are_zero() -> None:
    event = usage_event(USER)
    for name in ("input_tokens", "web_search_requests", "reasoning_tokens"):
        del event[name]
    decoded = read(event)
    assert (decoded.input_tokens, decoded.web_search_requests, decoded.reasoning_tokens) == (
        0,
        0,
        0,
    )
