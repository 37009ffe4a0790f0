"""Prices and what a request costs. Pure: exact `Decimal` arithmetic, no IO.

Prices are USD per million tokens for each kind of token (input, output,
cache read, cache write) and per thousand server-side web searches. A model's
prices are versioned by `effective_from`; an event is priced at the version in
force at its timestamp. Costs are rounded half-even to 12 decimal places (the
ledger's scale) once, at the end, never per component. A group's price
multiplier (DESIGN 13) scales a cost and a worst case before that one
rounding, so the charge is the price times the multiplier, rounded once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

SCALE = Decimal("0.000000000001")
MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1_000)
_CONTEXT = Context(prec=50)


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    model: str
    effective_from: datetime
    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    web_search: Decimal = Decimal(0)
    max_output_tokens: int = 8192


def cost(
    price: Price,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    web_search_requests: int = 0,
    multiplier: Decimal = Decimal(1),
) -> Decimal:
    """The exact cost of one request's usage, times the caller's group
    multiplier, at 12 decimal places."""
    with localcontext(_CONTEXT):
        per_token = (
            input_tokens * price.input
            + output_tokens * price.output
            + cache_read_tokens * price.cache_read
            + cache_write_tokens * price.cache_write
        ) / MILLION
        searches = web_search_requests * price.web_search / THOUSAND
        return ((per_token + searches) * multiplier).quantize(SCALE, rounding=ROUND_HALF_EVEN)


def worst_case(
    price: Price,
    *,
    prompt_tokens: int,
    max_output_tokens: int | None,
    choices: int = 1,
    multiplier: Decimal = Decimal(1),
) -> Decimal:
    """What a hold must cover: the prompt at its dearest input rate, and the
    most output the request may produce: its own cap per answer (at most the
    model's; the model's when it set none), for each of the `choices` answers
    it asked for (OpenAI's `n`, Gemini's `candidateCount`); times the caller's
    group multiplier, as the charge will be."""
    if choices < 1:
        raise ValueError(f"a request asks for at least one answer: {choices}")
    cap = price.max_output_tokens
    output = (cap if max_output_tokens is None else min(max_output_tokens, cap)) * choices
    with localcontext(_CONTEXT):
        dearest_input = max(price.input, price.cache_write)
        amount = (prompt_tokens * dearest_input + output * price.output) / MILLION * multiplier
        return amount.quantize(SCALE, rounding=ROUND_HALF_EVEN)


def price_at(versions: Iterable[Price], when: datetime) -> Price | None:
    """The version in force at `when`: the newest that started at or before it."""
    current: Price | None = None
    for version in versions:
        if version.effective_from <= when and (
            current is None or version.effective_from > current.effective_from
        ):
            current = version
    return current
