"""`check_ledger`: silent on a sound ledger, and naming the ids when it is not.

Breaking the ledger takes switching its triggers off
(`session_replication_role = replica`, superuser only): exactly what an
operator's hand-written SQL could do, and what reconcile is there to catch.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from services.billing import ledger
from services.billing.charging import charge_batch
from services.billing.reconcile import check_ledger
from shared.usage_event import read
from tests.billing.conftest import EPOCH, add_price, fund, price, usage_event


async def _activity(pool: Any) -> tuple[uuid.UUID, str]:
    await add_price(pool, price())
    user = uuid.uuid4()
    await fund(pool, user, "1")
    events = [
        usage_event(user_id=user, ts=EPOCH + timedelta(days=1), input_tokens=400_000)
        for _ in range(3)
    ]
    await charge_batch(pool, [read(event) for event in events])
    return user, events[0]["event_id"]


async def test_a_sound_ledger_has_no_violations(pool: Any) -> None:
    await _activity(pool)
    assert await check_ledger(pool) == []


async def test_a_balance_moved_by_hand_is_named(pool: Any, db: Any) -> None:
    user, _ = await _activity(pool)
    account = await ledger.user_account(db, user)
    await db.execute("UPDATE billing.accounts SET balance = balance + 5 WHERE id = $1", account)
    problems = await check_ledger(db)
    assert len(problems) == 1
    assert f"account {account} (user {user})" in problems[0] and "balance 5.00" in problems[0]


async def test_an_edited_entry_is_named_everywhere_it_shows(pool: Any, db: Any) -> None:
    user, event_id = await _activity(pool)
    async with db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        entry = await db.fetchval(
            "SELECT e.id FROM billing.ledger_entries e JOIN billing.ledger_transactions t "
            "ON t.id = e.transaction_id JOIN billing.accounts a ON a.id = e.account_id "
            "WHERE t.event_id = $1 AND a.kind = 'revenue'",
            event_id,
        )
        await db.execute("UPDATE billing.ledger_entries SET amount = 0.3 WHERE id = $1", entry)
    problems = "\n".join(await check_ledger(db))
    assert "(revenue): balance 1.20 != sum of its entries 1.10" in problems
    assert "entries summing to -0.10" in problems
    assert "all ledger entries sum to -0.10" in problems
    assert f"usage charge {event_id}" in problems


async def test_a_charge_without_its_ledger_transaction_is_named(pool: Any, db: Any) -> None:
    user, _ = await _activity(pool)
    transaction = db.transaction()
    await transaction.start()
    try:  # the schema change is rolled back with the rest
        await db.execute("ALTER TABLE billing.usage_charges DROP CONSTRAINT usage_charges_check1")
        await db.execute(
            "INSERT INTO billing.usage_charges (event_id, user_id, cost, charged, written_off) "
            "VALUES ('ghost', $1, 1, 1, 0)",
            user,
        )
        problems = await check_ledger(db)
    finally:
        await transaction.rollback()
    assert len(problems) == 1 and "usage charge ghost" in problems[0]


async def test_a_balance_below_its_floor_is_named(pool: Any, db: Any) -> None:
    user, _ = await _activity(pool)
    account = await ledger.user_account(db, user)
    transaction = db.transaction()
    await transaction.start()
    try:  # the schema change is rolled back with the rest
        await db.execute(
            "ALTER TABLE billing.accounts DROP CONSTRAINT accounts_balance_above_floor"
        )
        await db.execute("UPDATE billing.accounts SET floor = 1 WHERE id = $1", account)
        problems = await check_ledger(db)
    finally:
        await transaction.rollback()
    assert len(problems) == 1
    assert f"account {account}" in problems[0] and "below its floor 1.00" in problems[0]
