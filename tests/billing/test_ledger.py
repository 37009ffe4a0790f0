"""The ledger: balanced postings, floors, and what the database refuses."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.billing import ledger
from services.billing.errors import BelowFloor, LedgerError
from services.billing.reconcile import check_ledger
from tests.billing.conftest import fund

D = Decimal


async def _accounts(connection: Any) -> tuple[int, int]:
    user = await ledger.user_account(connection, uuid.uuid4())
    topups = await ledger.system_account(connection, "topups")
    return user, topups


async def test_a_posting_moves_balances_versions_and_records_balance_after(pool: Any) -> None:
    async with pool.acquire() as connection, connection.transaction():
        user, topups = await _accounts(connection)
        first = await ledger.post(connection, "top_up", [(topups, D("-7.5")), (user, D("7.5"))])
        second = await ledger.post(
            connection, "adjustment", [(user, D("-2.25")), (topups, D("2.25"))], reason="fix"
        )
    async with pool.acquire() as connection:
        row = await connection.fetchrow(
            "SELECT balance, version FROM billing.accounts WHERE id = $1", user
        )
        assert (row["balance"], row["version"]) == (D("5.25"), 2)
        assert await connection.fetchval(
            "SELECT balance FROM billing.accounts WHERE id = $1", topups
        ) == D("-5.25")
        entries = await connection.fetch(
            "SELECT transaction_id, account_id, amount, balance_after FROM billing.ledger_entries "
            "ORDER BY id"
        )
        assert [(e["transaction_id"], e["amount"], e["balance_after"]) for e in entries] == [
            (first, D("-7.5"), None),
            (first, D("7.5"), D("7.5")),
            (second, D("-2.25"), D("5.25")),
            (second, D("2.25"), None),
        ]
        assert await check_ledger(connection) == []


@pytest.mark.parametrize(
    "amounts",
    [
        [D("1"), D("-0.99")],
        [D("1")],
        [D("1"), D("0"), D("-1")],
        [D("0.0000000000001"), D("-0.0000000000001")],
    ],
)
async def test_unbalanced_or_malformed_entries_are_refused_before_sending(
    pool: Any, amounts: list[Decimal]
) -> None:
    async with pool.acquire() as connection:
        user, topups = await _accounts(connection)
        accounts = [user, topups, user]
        with pytest.raises(LedgerError):
            await ledger.post(connection, "adjustment", list(zip(accounts, amounts, strict=False)))
        assert await connection.fetchval("SELECT count(*) FROM billing.ledger_entries") == 0


async def test_a_debit_below_the_floor_is_refused_and_nothing_moves(pool: Any) -> None:
    user_id = uuid.uuid4()
    await fund(pool, user_id, "1.00")
    async with pool.acquire() as connection:
        user = await ledger.user_account(connection, user_id)
        revenue = await ledger.system_account(connection, "revenue")
        with pytest.raises(BelowFloor):
            async with connection.transaction():
                await ledger.post(
                    connection, "adjustment", [(user, D("-1.01")), (revenue, D("1.01"))]
                )
        assert await connection.fetchval(
            "SELECT balance FROM billing.accounts WHERE id = $1", user
        ) == D("1.00")
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM billing.ledger_transactions WHERE kind = 'adjustment'"
            )
            == 0
        )
        # Down to the floor exactly is allowed.
        async with connection.transaction():
            await ledger.post(connection, "adjustment", [(user, D("-1")), (revenue, D("1"))])
        assert await check_ledger(connection) == []


async def test_the_database_itself_refuses_a_balance_below_the_floor(db: Any) -> None:
    user = await ledger.user_account(db, uuid.uuid4())
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE billing.accounts SET balance = -0.01 WHERE id = $1", user)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE billing.ledger_entries SET amount = amount * 2",
        "DELETE FROM billing.ledger_entries",
        "UPDATE billing.ledger_transactions SET reason = 'edited'",
        "DELETE FROM billing.ledger_transactions",
        "UPDATE billing.usage_charges SET cost = 0",
        "DELETE FROM billing.usage_charges",
        "UPDATE billing.credit_requests SET response = '{}'",
        "DELETE FROM billing.credit_requests",
        "UPDATE billing.prices SET input = 0",
        "DELETE FROM billing.prices",
    ],
)
async def test_the_ledger_and_its_records_are_append_only(
    pool: Any, db: Any, statement: str
) -> None:
    await fund(pool, uuid.uuid4(), "3")
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="append-only"):
        await db.execute(statement)
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_entries") == 2


async def test_an_unbalanced_transaction_fails_at_commit(db: Any) -> None:
    user, topups = await _accounts(db)
    with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
        async with db.transaction():
            tx = await db.fetchval(
                "INSERT INTO billing.ledger_transactions (kind) VALUES ('adjustment') RETURNING id"
            )
            await db.execute(
                "INSERT INTO billing.ledger_entries (transaction_id, account_id, amount) "
                "VALUES ($1, $2, 5), ($1, $3, -4)",
                tx,
                user,
                topups,
            )
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0


async def test_nothing_is_ever_appended_to_a_posted_transaction(db: Any) -> None:
    user, topups = await _accounts(db)
    async with db.transaction():
        tx = await ledger.post(db, "top_up", [(topups, D(-1)), (user, D(1))])
    with pytest.raises(asyncpg.CheckViolationError, match="closed"):
        async with db.transaction():
            await db.execute(
                "INSERT INTO billing.ledger_entries (transaction_id, account_id, amount) "
                "VALUES ($1, $2, 5), ($1, $3, -5)",
                tx,
                user,
                topups,
            )
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_entries") == 2


async def test_accounts_are_created_once_under_concurrency(pool: Any) -> None:
    user_id = uuid.uuid4()

    async def one() -> int:
        async with pool.acquire() as connection, connection.transaction():
            return await ledger.user_account(connection, user_id)

    ids = await asyncio.gather(*(one() for _ in range(8)))
    assert len(set(ids)) == 1

    async def system() -> int:
        async with pool.acquire() as connection:
            return await ledger.system_account(connection, "writeoff")

    assert len(set(await asyncio.gather(*(system() for _ in range(4))))) == 1
    with pytest.raises(ValueError):
        async with pool.acquire() as connection:
            await ledger.system_account(connection, "user")
