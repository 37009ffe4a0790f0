"""Deciding what a batch of usage events charges. Pure: no IO.

`charging` locks the users' accounts, then asks this module what to do with
the events never charged before; it carries out the plan in one database
transaction. Rules:

- Each event is priced at the version in force at its `ts` (`price_at`),
  with `pricing.cost`: exact, times the event's group price multiplier
  (DESIGN 13), rounded once to 12 places, half-even.
- An event with no price at its `ts` costs 0 and is recorded with no price
  (it is listed in `unpriced` when it had usage, for a warning). The gateway
  refuses unpriced models, and prices are append-only, so this only happens
  to events from before a model's first price.
- Floor guard: a charge never takes a balance below its floor. The user pays
  `min(cost, max(balance - floor, 0))`; the rest is written off. Revenue
  earns the whole cost either way, the write-off account carries the loss,
  and every ledger transaction still sums to zero.
- A user's events are charged in the order given (the stream's order), each
  against the balance the previous one left.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.billing.pricing import Price, cost, price_at
from services.billing.usage_events import UsageCharge

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PlannedCharge:
    event: UsageCharge
    cost: Decimal
    charged: Decimal
    written_off: Decimal
    price_effective_from: datetime | None
    # The user's balance once this event is charged.
    balance_after: Decimal


@dataclass(frozen=True, slots=True)
class BatchPlan:
    charges: tuple[PlannedCharge, ...]
    user_deltas: Mapping[uuid.UUID, Decimal]
    unpriced: tuple[UsageCharge, ...]

    @property
    def revenue(self) -> Decimal:
        return sum((charge.cost for charge in self.charges), ZERO)

    @property
    def written_off(self) -> Decimal:
        return sum((charge.written_off for charge in self.charges), ZERO)


def price_event(
    event: UsageCharge, versions: Mapping[str, Sequence[Price]]
) -> tuple[Decimal, Price | None]:
    """What the event costs, and the price version used (None: unpriced)."""
    if event.model is None:
        return ZERO, None
    price = price_at(versions.get(event.model, ()), event.ts)
    if price is None:
        return ZERO, None
    amount = cost(
        price,
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cache_read_tokens=event.cache_read_tokens,
        cache_write_tokens=event.cache_write_tokens,
        web_search_requests=event.web_search_requests,
        multiplier=event.price_multiplier,
    )
    return amount, price


def split_charge(balance: Decimal, floor: Decimal, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(charged, written off) for a cost against a balance and its floor."""
    above_floor = max(balance - floor, ZERO)
    charged = min(amount, above_floor)
    return charged, amount - charged


def plan_batch(
    events: Sequence[UsageCharge],
    versions: Mapping[str, Sequence[Price]],
    balances: Mapping[uuid.UUID, tuple[Decimal, Decimal]],
) -> BatchPlan:
    """Plan the charges of `events` given each user's (balance, floor)."""
    running = {user_id: balance for user_id, (balance, _) in balances.items()}
    deltas: dict[uuid.UUID, Decimal] = {}
    charges: list[PlannedCharge] = []
    unpriced: list[UsageCharge] = []
    for event in events:
        amount, price = price_event(event, versions)
        if price is None and event.has_usage:
            unpriced.append(event)
        floor = balances[event.user_id][1]
        charged, written_off = split_charge(running[event.user_id], floor, amount)
        running[event.user_id] -= charged
        deltas[event.user_id] = deltas.get(event.user_id, ZERO) - charged
        charges.append(
            PlannedCharge(
                event=event,
                cost=amount,
                charged=charged,
                written_off=written_off,
                price_effective_from=None if price is None else price.effective_from,
                balance_after=running[event.user_id],
            )
        )
    return BatchPlan(charges=tuple(charges), user_deltas=deltas, unpriced=tuple(unpriced))
