"""Charging usage events: exactly once, at the price of their time, never
below the floor, with a balanced ledger."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.billing.charging import ChargeBatchResult, charge_batch
from services.billing.reconcile import check_ledger
from shared.usage_event import read
from tests.billing.conftest import EPOCH, add_price, fund, price, usage_event

D = Decimal
LATER = EPOCH + timedelta(days=30)


@pytest.fixture
async def priced(pool: Any) -> None:
    """Model "m": input 1 USD per million tokens, output 2."""
    async with pool.acquire() as connection:
        await add_price(connection, price())


async def charge(pool: Any, events: list[dict[str, Any]]) -> ChargeBatchResult:
    """`charge_batch` given the events as the stream consumer gives them: decoded."""
    return await charge_batch(pool, [read(event) for event in events])


def half_dollar(user_id: uuid.UUID, event_id: str | None = None) -> dict[str, Any]:
    return usage_event(event_id, user_id=user_id, ts=LATER, input_tokens=500_000)


async def _balance(pool: Any, user_id: uuid.UUID) -> Decimal:
    value: Decimal = await pool.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", user_id
    )
    return value


async def _system(pool: Any, kind: str) -> Decimal:
    value: Decimal = await pool.fetchval(
        "SELECT balance FROM billing.accounts WHERE kind = $1 AND user_id IS NULL", kind
    )
    return value


async def test_an_event_is_charged_exactly_once(pool: Any, priced: None) -> None:
    user = uuid.uuid4()
    await fund(pool, user, "10")
    event = half_dollar(user, "req-once")
    first = await charge(pool, [event, event, half_dollar(user)])
    assert [c.event_id for c in first.charged][0] == "req-once" and len(first.charged) == 2
    assert first.duplicates == ["req-once"]
    again = await charge(pool, [event])
    assert again.charged == [] and again.duplicates == ["req-once"]
    assert await _balance(pool, user) == D("9")
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM billing.ledger_transactions WHERE event_id = 'req-once'"
        )
        == 1
    )
    assert await check_ledger(pool) == []


async def test_concurrent_batches_with_the_same_events_charge_each_once(
    pool: Any, priced: None
) -> None:
    users = [uuid.uuid4() for _ in range(5)]
    for user in users:
        await fund(pool, user, "100")
    events = [half_dollar(users[i % 5]) for i in range(40)]
    results = await asyncio.gather(
        charge(pool, events), charge(pool, events[::-1]), charge(pool, events)
    )
    charged = [c.event_id for result in results for c in result.charged]
    assert sorted(charged) == sorted(e["event_id"] for e in events)
    assert sum(len(r.duplicates) for r in results) == 80
    for user in users:
        assert await _balance(pool, user) == D("96")  # 8 events of 0.50 each
    assert await _system(pool, "revenue") == D("20")
    assert await check_ledger(pool) == []


async def test_the_floor_guard_writes_off_what_the_balance_cannot_pay(
    pool: Any, priced: None
) -> None:
    user = uuid.uuid4()
    await fund(pool, user, "1.00")
    result = await charge(pool, [half_dollar(user) for _ in range(3)])
    assert [c.charged for c in result.charged] == [D("0.5"), D("0.5"), D(0)]
    assert [c.written_off for c in result.charged] == [D(0), D(0), D("0.5")]
    assert await _balance(pool, user) == D("0.00")
    assert await _system(pool, "revenue") == D("1.5")
    assert await _system(pool, "writeoff") == D("-0.5")
    assert await pool.fetchval("SELECT sum(written_off) FROM billing.usage_charges") == D("0.5")
    # Later events of a user at the floor: recorded, charged nothing, all written off.
    more = await charge(pool, [half_dollar(user)])
    assert more.charged[0].charged == 0 and more.charged[0].written_off == D("0.5")
    assert await _balance(pool, user) == 0
    assert await check_ledger(pool) == []


async def test_a_user_with_no_account_is_charged_nothing_below_zero(
    pool: Any, priced: None
) -> None:
    user = uuid.uuid4()
    result = await charge(pool, [half_dollar(user)])
    assert result.charged[0].written_off == D("0.5")
    assert result.balances[user].balance == 0 and result.balances[user].version == 0
    assert await check_ledger(pool) == []


async def test_each_event_is_priced_at_the_version_in_force_at_its_time(pool: Any) -> None:
    async with pool.acquire() as connection:
        await add_price(connection, price(input="1"))
        await add_price(connection, price(effective_from=EPOCH + timedelta(days=10), input="3"))
    user = uuid.uuid4()
    await fund(pool, user, "100")
    before = usage_event(user_id=user, ts=EPOCH + timedelta(days=9), input_tokens=1_000_000)
    at = usage_event(user_id=user, ts=EPOCH + timedelta(days=10), input_tokens=1_000_000)
    after = usage_event(user_id=user, ts=EPOCH + timedelta(days=99), input_tokens=1_000_000)
    early = usage_event(user_id=user, ts=EPOCH - timedelta(days=1), input_tokens=1_000_000)
    result = await charge(pool, [after, before, at, early])
    assert [c.cost for c in result.charged] == [D(3), D(1), D(3), D(0)]
    rows = await pool.fetch(
        "SELECT event_id, price_effective_from, transaction_id FROM billing.usage_charges"
    )
    by_id = {row["event_id"]: row for row in rows}
    assert by_id[before["event_id"]]["price_effective_from"] == EPOCH
    assert by_id[after["event_id"]]["price_effective_from"] == EPOCH + timedelta(days=10)
    assert by_id[early["event_id"]]["price_effective_from"] is None
    assert by_id[early["event_id"]]["transaction_id"] is None
    assert await _balance(pool, user) == D(93)


async def test_unpriced_events_are_recorded_at_zero_with_a_warning(
    pool: Any, priced: None, caplog: pytest.LogCaptureFixture
) -> None:
    user = uuid.uuid4()
    unknown = usage_event(user_id=user, model="no-such-model", ts=LATER, input_tokens=10)
    empty = usage_event(user_id=user, model="no-such-model", ts=LATER)
    with caplog.at_level(logging.WARNING):
        result = await charge(pool, [unknown, empty])
    assert [c.cost for c in result.charged] == [D(0), D(0)]
    warned = [r for r in caplog.records if "no price" in r.getMessage()]
    assert [r.event_id for r in warned] == [unknown["event_id"]]  # type: ignore[attr-defined]
    assert await pool.fetchval("SELECT count(*) FROM billing.usage_charges") == 2
    assert await pool.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0
    assert await charge(pool, [unknown]) == type(result)(duplicates=[unknown["event_id"]])


async def test_the_nul_model_event_of_a_refused_request_is_charged_once(pool: Any) -> None:
    """Issue 15: a client's model "\\u0000" made this event fail the whole batch."""
    user = uuid.uuid4()
    event = {**usage_event(user_id=user, ts=LATER), "requested_model": "\x00"}
    event.update(upstream_model=None, status="rejected", http_status=404, hold_id=None)
    other = usage_event(user_id=user, ts=LATER)
    result = await charge(pool, [event, other])
    assert [c.event_id for c in result.charged] == [event["event_id"], other["event_id"]]
    assert result.charged[0].cost == 0
    again = await charge(pool, [event])
    assert again.charged == [] and again.duplicates == [event["event_id"]]
    assert await pool.fetchval("SELECT count(*) FROM billing.usage_charges") == 2


async def test_junk_text_is_repaired_and_the_money_fields_charged_once(
    pool: Any, priced: None
) -> None:
    user = uuid.uuid4()
    await fund(pool, user, "5")
    junk = {
        **half_dollar(user),
        "requested_model": "m\x00",
        "upstream_model": "\ud800",
        "error_code": "\x00" * 10_000,
        "user_agent": "a\x00\udfff" * 1000,
        "hold_id": "hold\x00",
        "endpoint": "e" * 100_000,
    }
    result = await charge(pool, [junk])
    assert [(c.event_id, c.cost, c.hold_id) for c in result.charged] == [
        (junk["event_id"], D("0.5"), None)
    ]
    assert await _balance(pool, user) == D("4.5")
    assert (await charge(pool, [junk])).duplicates == [junk["event_id"]]
    assert await check_ledger(pool) == []


async def test_the_result_carries_what_the_gateway_needs(pool: Any, priced: None) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await fund(pool, alice, "2")
    events = [half_dollar(alice), half_dollar(bob), half_dollar(alice)]
    result = await charge(pool, events)
    assert [(c.event_id, c.hold_id, c.user_id) for c in result.charged] == [
        (e["event_id"], e["hold_id"], uuid.UUID(e["user_id"])) for e in events
    ]
    snapshot = result.balances[alice]
    row = await pool.fetchrow(
        "SELECT balance, floor, version FROM billing.accounts WHERE user_id = $1", alice
    )
    assert (snapshot.balance, snapshot.floor, snapshot.version) == tuple(row)
    assert snapshot.balance == D(1) and snapshot.version == 2  # the credit, then this batch
    assert result.balances[bob].balance == 0
    ledger_lines = await pool.fetch(
        "SELECT e.amount, e.balance_after FROM billing.ledger_entries e "
        "JOIN billing.accounts a ON a.id = e.account_id WHERE a.user_id = $1 ORDER BY e.id",
        alice,
    )
    assert [tuple(line) for line in ledger_lines] == [
        (D(2), D(2)),
        (D("-0.5"), D("1.5")),
        (D("-0.5"), D(1)),
    ]


async def test_an_empty_batch_does_nothing(pool: Any) -> None:
    result = await charge(pool, [])
    assert result.charged == [] and result.balances == {}


async def test_one_event_id_claimed_for_two_users_at_once_is_charged_once(
    pool: Any, priced: None, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await fund(pool, alice, "5")
    await fund(pool, bob, "5")
    for_alice = half_dollar(alice, "req-shared")
    for_bob = {**for_alice, "user_id": str(bob)}
    results = await asyncio.gather(*(charge(pool, [e]) for e in (for_alice, for_bob) * 3))
    assert sum(len(r.charged) for r in results) == 1
    assert sum(len(r.duplicates) for r in results) == 5
    assert await _balance(pool, alice) + await _balance(pool, bob) == D("9.5")
    assert await check_ledger(pool) == []


async def test_the_ledger_records_the_group_multiplier_its_charge_includes(
    pool: Any, priced: None
) -> None:
    user = uuid.uuid4()
    await fund(pool, user, "10")
    scaled = usage_event(
        "req-tier", user_id=user, ts=LATER, input_tokens=500_000, price_multiplier="1.5"
    )
    plain = {**half_dollar(user, "req-v1"), "v": 1}
    del plain["price_multiplier"]
    await charge(pool, [scaled, plain])
    assert await _balance(pool, user) == D("10") - D("0.75") - D("0.5")
    rows = await pool.fetch(
        "SELECT t.event_id, t.price_multiplier, c.cost FROM billing.ledger_transactions t "
        "JOIN billing.usage_charges c USING (event_id) ORDER BY t.id"
    )
    assert [(r["event_id"], r["price_multiplier"], r["cost"]) for r in rows] == [
        ("req-tier", D("1.5"), D("0.75")),
        ("req-v1", D(1), D("0.5")),
    ]
    credit = await pool.fetchval(
        "SELECT price_multiplier FROM billing.ledger_transactions WHERE kind <> 'usage_charge'"
    )
    assert credit is None  # only a usage charge has one
    assert await check_ledger(pool) == []
