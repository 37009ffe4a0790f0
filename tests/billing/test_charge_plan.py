"""Planning a batch's charges: prices at the event's time, and the floor guard."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from services.billing.charge_plan import plan_batch, split_charge
from services.billing.usage_events import read_event
from tests.billing.conftest import EPOCH, price, usage_event

ALICE, BOB = uuid.uuid4(), uuid.uuid4()
D = Decimal


def test_split_charges_what_is_above_the_floor_and_writes_off_the_rest() -> None:
    assert split_charge(D("1.00"), D(0), D("0.40")) == (D("0.40"), D(0))
    assert split_charge(D("1.00"), D(0), D("1.00")) == (D("1.00"), D(0))
    assert split_charge(D("0.30"), D(0), D("0.50")) == (D("0.30"), D("0.20"))
    assert split_charge(D("0"), D(0), D("0.50")) == (D(0), D("0.50"))
    assert split_charge(D("1"), D("-5"), D("4")) == (D("4"), D(0))  # a credit line
    assert split_charge(D("1"), D("-5"), D("9")) == (D("6"), D("3"))
    assert split_charge(D("1"), D(0), D(0)) == (D(0), D(0))


def _events(
    user: uuid.UUID, count: int, *, input_tokens: int = 0, output_tokens: int = 0
) -> list[dict[str, object]]:
    when = EPOCH + timedelta(days=1)
    return [
        usage_event(user_id=user, ts=when, input_tokens=input_tokens, output_tokens=output_tokens)
        for _ in range(count)
    ]


def test_three_half_dollar_events_against_one_dollar() -> None:
    # input at 1 USD per million: 500,000 tokens cost 0.50.
    events = [read_event(e) for e in _events(ALICE, 3, input_tokens=500_000)]
    plan = plan_batch(events, {"m": [price()]}, {ALICE: (D("1.00"), D(0))})
    assert [c.cost for c in plan.charges] == [D("0.5")] * 3
    assert [c.charged for c in plan.charges] == [D("0.5"), D("0.5"), D(0)]
    assert [c.written_off for c in plan.charges] == [D(0), D(0), D("0.5")]
    assert [c.balance_after for c in plan.charges] == [D("0.5"), D(0), D(0)]
    assert plan.user_deltas == {ALICE: D("-1.00")}
    assert plan.revenue == D("1.5") and plan.written_off == D("0.5")


def test_the_group_multiplier_scales_the_cost_and_the_charge() -> None:
    when = EPOCH + timedelta(days=1)
    raw = [
        usage_event(user_id=ALICE, ts=when, input_tokens=500_000, price_multiplier="1.5"),
        {**usage_event(user_id=ALICE, ts=when, input_tokens=500_000), "v": 1},
    ]
    del raw[1]["price_multiplier"]
    plan = plan_batch([read_event(e) for e in raw], {"m": [price()]}, {ALICE: (D("1"), D(0))})
    assert [c.cost for c in plan.charges] == [D("0.75"), D("0.5")]
    assert [c.charged for c in plan.charges] == [D("0.75"), D("0.25")]
    assert [c.event.price_multiplier for c in plan.charges] == [D("1.5"), D(1)]


def test_users_are_charged_independently_in_stream_order() -> None:
    raw = _events(ALICE, 1, output_tokens=1_000_000) + _events(BOB, 1, output_tokens=500_000)
    plan = plan_batch(
        [read_event(e) for e in raw],
        {"m": [price()]},
        {ALICE: (D("10"), D(0)), BOB: (D("0.25"), D(0))},
    )
    assert plan.user_deltas == {ALICE: D("-2"), BOB: D("-0.25")}
    assert plan.charges[1].written_off == D("0.75")


def test_an_event_before_any_price_costs_nothing_and_is_flagged() -> None:
    early = read_event(usage_event(user_id=ALICE, ts=EPOCH - timedelta(days=1), input_tokens=9))
    empty = read_event(usage_event(user_id=ALICE, ts=EPOCH - timedelta(days=1)))
    plan = plan_batch([early, empty], {"m": [price()]}, {ALICE: (D(5), D(0))})
    assert [c.cost for c in plan.charges] == [D(0), D(0)]
    assert [c.price_effective_from for c in plan.charges] == [None, None]
    assert plan.unpriced == (early,)  # an event with no usage needs no price
    assert plan.user_deltas == {ALICE: D(0)}
