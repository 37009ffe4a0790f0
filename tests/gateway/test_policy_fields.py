"""Auth's admission policy fields as the gateway reads them: defaults when absent,
refused (ValueError, so the request is refused with 503) when malformed."""

from __future__ import annotations

import ipaddress
from decimal import Decimal

import pytest

from services.gateway.admission.policy_fields import (
    allowlist_from,
    budget_from,
    limits_from,
    model_limits_from,
    multiplier_from,
)
from services.gateway.admission.principals import NO_LIMITS, Budget, Limits


def test_absent_fields_read_as_no_policy() -> None:
    assert limits_from(None) is NO_LIMITS
    assert limits_from({"rpm": None, "tpm": None, "concurrency": None}) is NO_LIMITS
    assert allowlist_from(None) is None
    assert budget_from(None) is None
    assert multiplier_from(None) == Decimal(1)


def test_present_fields_are_read() -> None:
    assert limits_from({"rpm": 10, "tpm": None, "concurrency": 2}) == Limits(rpm=10, concurrency=2)
    assert allowlist_from(["10.0.0.0/8", "2001:db8::/32"]) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert budget_from({"usd": "0.01", "period": "day"}) == Budget(
        usd=Decimal("0.01"), period="day"
    )
    assert multiplier_from("1.5000") == Decimal("1.5")


@pytest.mark.parametrize(
    "raw", ["0", "-1", "100.0001", "1.00001", "NaN", "Infinity", "1e400", "", "x", [], True]
)
def test_a_multiplier_the_usage_event_would_refuse_is_refused_here(raw: object) -> None:
    with pytest.raises(ValueError):
        multiplier_from(raw)


def test_the_largest_multiplier_the_ledger_keeps_is_read() -> None:
    assert multiplier_from("100") == Decimal(100)
    assert multiplier_from("0.0001") == Decimal("0.0001")


def test_per_model_limits_are_read_and_empty_entries_left_out() -> None:
    assert model_limits_from(None) == {}
    assert model_limits_from({}) == {}
    assert model_limits_from(
        {"gpt-4o": {"rpm": 2}, "fast": {"tpm": 100, "concurrency": 1}, "idle": {"rpm": None}}
    ) == {"gpt-4o": Limits(rpm=2), "fast": Limits(tpm=100, concurrency=1)}


@pytest.mark.parametrize(
    "raw",
    [
        [{"rpm": 1}],
        "gpt-4o",
        {"gpt-4o": None},
        {"gpt-4o": 5},
        {"": {"rpm": 1}},
        {"gpt-4o": {"rpm": 0}},
        {"gpt-4o": {"tpm": "10"}},
        {"gpt-4o": {"concurrency": True}},
    ],
)
def test_malformed_per_model_limits_are_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        model_limits_from(raw)


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (limits_from, {"rpm": 0}),
        (limits_from, {"rpm": -1}),
        (limits_from, {"rpm": "10"}),
        (limits_from, ["rpm"]),
        (allowlist_from, ["not a network"]),
        (allowlist_from, "10.0.0.0/8"),
        (allowlist_from, [None]),
        (budget_from, {"usd": "-0.01", "period": "day"}),
        (budget_from, {"usd": "1", "period": "week"}),
        (budget_from, {"usd": "1\x00", "period": "day"}),
    ],
)
def test_malformed_fields_are_refused(reader: object, raw: object) -> None:
    assert callable(reader)
    with pytest.raises(ValueError):
        reader(raw)
