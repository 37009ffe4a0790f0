"""Pricing: exact costs for every kind of token, one half-even rounding, versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.billing.pricing import Price, cost, price_at, worst_case

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SONNET = Price(
    model="claude-sonnet",
    effective_from=T0,
    input=Decimal("3"),
    output=Decimal("15"),
    cache_read=Decimal("0.3"),
    cache_write=Decimal("3.75"),
    web_search=Decimal("10"),
    max_output_tokens=8192,
)
NANO = Decimal("0.000000001")
TINY = Price(
    model="tiny",
    effective_from=T0,
    input=NANO,
    output=NANO,
    cache_read=NANO,
    cache_write=NANO,
)


def _cost(price: Price = SONNET, **counts: int) -> Decimal:
    values = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "web_search_requests": 0,
    }
    values.update(counts)
    return cost(
        price,
        input_tokens=values["input_tokens"],
        output_tokens=values["output_tokens"],
        cache_read_tokens=values["cache_read_tokens"],
        cache_write_tokens=values["cache_write_tokens"],
        web_search_requests=values["web_search_requests"],
    )


def test_each_kind_of_token_at_its_own_rate() -> None:
    assert _cost(input_tokens=1_000_000) == Decimal("3")
    assert _cost(input_tokens=1) == Decimal("0.000003")
    assert _cost(output_tokens=1234) == Decimal("0.01851")  # 1234 * 15 / 1e6
    assert _cost(cache_read_tokens=1000) == Decimal("0.0003")  # 1000 * 0.3 / 1e6
    assert _cost(cache_write_tokens=2048) == Decimal("0.00768")  # 2048 * 3.75 / 1e6
    assert _cost(web_search_requests=3) == Decimal("0.03")  # 3 * 10 / 1000


def test_components_add_up_exactly() -> None:
    total = _cost(
        input_tokens=1,
        output_tokens=1234,
        cache_read_tokens=1000,
        cache_write_tokens=2048,
        web_search_requests=3,
    )
    assert total == Decimal("0.000003") + Decimal("0.01851") + Decimal("0.0003") + Decimal(
        "0.00768"
    ) + Decimal("0.03")
    assert total == Decimal("0.056493")


def test_costs_carry_the_ledger_scale_and_never_a_float() -> None:
    result = _cost(input_tokens=7, output_tokens=3)
    assert isinstance(result, Decimal)
    assert result.as_tuple().exponent == -12
    assert result == Decimal("0.000066")  # 7 * 3 / 1e6 + 3 * 15 / 1e6


def test_rounding_is_half_even_at_twelve_places() -> None:
    # 1 token at 1e-9 USD per million is 1e-15 USD: rounds to nothing.
    assert _cost(TINY, input_tokens=1) == Decimal(0)
    # 1500 tokens: 1.5e-12 -> 2e-12 (half to even); 2500: 2.5e-12 -> 2e-12.
    assert _cost(TINY, input_tokens=1500) == Decimal("0.000000000002")
    assert _cost(TINY, input_tokens=2500) == Decimal("0.000000000002")
    assert _cost(TINY, input_tokens=500) == Decimal(0)
    assert _cost(TINY, input_tokens=3500) == Decimal("0.000000000004")


def test_rounding_happens_once_on_the_total() -> None:
    # 4e-13 + 4e-13 = 8e-13 -> 1e-12; rounding each part first would give 0.
    assert _cost(TINY, input_tokens=400, output_tokens=400) == Decimal("0.000000000001")


def test_huge_counts_stay_exact() -> None:
    expensive = Price(
        model="x",
        effective_from=T0,
        input=Decimal("99999999999.999999999"),
        output=Decimal(0),
        cache_read=Decimal(0),
        cache_write=Decimal(0),
    )
    assert _cost(expensive, input_tokens=10**12) == Decimal("99999999999999999.999")


def test_price_at_picks_the_version_in_force() -> None:
    versions = [
        SONNET,
        replace(SONNET, effective_from=T0 + timedelta(days=10), input=Decimal(4)),
        replace(SONNET, effective_from=T0 + timedelta(days=5), input=Decimal(5)),
    ]
    assert price_at(versions, T0 - timedelta(seconds=1)) is None
    assert price_at(versions, T0) == SONNET  # effective_from is inclusive
    assert price_at(versions, T0 + timedelta(days=7)) == versions[2]
    assert price_at(versions, T0 + timedelta(days=10)) == versions[1]
    assert price_at([], T0) is None


def test_worst_case_covers_the_dearest_input_and_the_output_cap() -> None:
    # 1000 prompt tokens at cache-write 3.75, 8192 output tokens (the cap) at 15.
    assert worst_case(SONNET, prompt_tokens=1000, max_output_tokens=None) == Decimal("0.12663")
    assert worst_case(SONNET, prompt_tokens=1000, max_output_tokens=100) == Decimal("0.00525")
    assert worst_case(SONNET, prompt_tokens=1000, max_output_tokens=100_000) == Decimal("0.12663")
    assert worst_case(SONNET, prompt_tokens=0, max_output_tokens=0) == Decimal(0)


def test_worst_case_covers_every_answer_asked_for() -> None:
    # 1000 prompt tokens once at 3.75; 100 output tokens at 15 for each of 4 answers.
    four = worst_case(SONNET, prompt_tokens=1000, max_output_tokens=100, choices=4)
    assert four == Decimal("0.00975")
    capped = worst_case(SONNET, prompt_tokens=0, max_output_tokens=None, choices=2)
    assert capped == 2 * worst_case(SONNET, prompt_tokens=0, max_output_tokens=None)
    with pytest.raises(ValueError, match="at least one answer"):
        worst_case(SONNET, prompt_tokens=0, max_output_tokens=None, choices=0)


def test_a_group_multiplier_scales_the_cost_before_its_one_rounding() -> None:
    base = _cost(input_tokens=1_000, output_tokens=1_000)  # 0.018
    assert cost(SONNET, input_tokens=1_000, output_tokens=1_000, multiplier=Decimal("1.5")) == (
        base * Decimal("1.5")
    )
    # 1000 tokens at 1e-9 per million is 1e-12; times 1.5 is 1.5e-12 -> 2e-12 (half even),
    # where rounding first and multiplying after would give 1.5e-12, off the ledger's scale.
    assert cost(TINY, input_tokens=1000, output_tokens=0, multiplier=Decimal("1.5")) == Decimal(
        "0.000000000002"
    )
    assert cost(TINY, input_tokens=1000, output_tokens=0, multiplier=Decimal("0.5")) == 0


def test_the_worst_case_carries_the_multiplier_the_charge_will() -> None:
    plain = worst_case(SONNET, prompt_tokens=100, max_output_tokens=200)
    scaled = worst_case(SONNET, prompt_tokens=100, max_output_tokens=200, multiplier=Decimal("1.5"))
    assert scaled == plain * Decimal("1.5")
    used = cost(SONNET, input_tokens=100, output_tokens=200, multiplier=Decimal("1.5"))
    assert used <= scaled
