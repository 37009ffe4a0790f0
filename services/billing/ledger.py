"""The double-entry ledger's SQL: accounts, postings, and a user's entries.

Rules every function here keeps (the database enforces the first three again):

- A ledger transaction is entries that sum to exactly zero. `post` refuses an
  unbalanced one before sending it; a deferred constraint trigger refuses it
  at commit.
- Entries are never updated or deleted; a correction is a new transaction.
- No account goes below its floor: a debit moves the balance only through a
  conditional UPDATE (`... WHERE balance + delta >= floor`), never a read then
  a write, and the accounts table's CHECK is the backstop.
- An account's balance moves in the same database transaction as its
  entries, by exactly their sum, and its version grows by one, so
  balance == sum(entries) always, and a Redis snapshot can tell new from old.
- Lock order, so concurrent postings never deadlock: user accounts first, by
  id, then system accounts, by id. Everything that moves money locks through
  `lock_accounts` or `lock_user_accounts`, and updates system accounts last.
- Amounts are `Decimal`s with at most 12 decimal places; nothing here rounds.
- Callers run these inside their own database transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, localcontext
from typing import Any

from services.billing.errors import BelowFloor, LedgerError

SYSTEM_KINDS = ("revenue", "topups", "writeoff")
TRANSACTION_KINDS = ("usage_charge", "top_up", "refund", "adjustment")
PLACES = 12
SCALE = Decimal(1).scaleb(-PLACES)

Entry = tuple[int, Decimal]


@dataclass(frozen=True, slots=True)
class AccountState:
    id: int
    kind: str
    user_id: uuid.UUID | None
    balance: Decimal
    floor: Decimal | None
    version: int


@dataclass(frozen=True, slots=True)
class Moved:
    """An account after a balance change."""

    id: int
    balance: Decimal
    floor: Decimal | None
    version: int


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One entry of a user's account, with what its transaction was."""

    id: int
    transaction_id: int
    kind: str
    amount: Decimal
    balance_after: Decimal | None
    event_id: str | None
    reason: str | None
    created_at: datetime
    # A usage charge's group price multiplier (None: another kind, or from before it was kept).
    price_multiplier: Decimal | None = None


_ACCOUNT = "id, kind, user_id, balance, floor, version"


def _state(row: Any) -> AccountState:
    return AccountState(**dict(row))


# ---- accounts ----------------------------------------------------------------------


async def user_account(connection: Any, user_id: uuid.UUID) -> int:
    """The user's account id, created (balance 0) on first use. Race-safe: two
    callers at once both get the one row."""
    found: int | None = await connection.fetchval(
        "SELECT id FROM billing.accounts WHERE user_id = $1", user_id
    )
    if found is not None:
        return found
    # ON CONFLICT waits for a concurrent insert of the same user to commit.
    await connection.execute(
        "INSERT INTO billing.accounts (kind, user_id) VALUES ('user', $1) "
        "ON CONFLICT (user_id) DO NOTHING",
        user_id,
    )
    created: int = await connection.fetchval(
        "SELECT id FROM billing.accounts WHERE user_id = $1", user_id
    )
    return created


async def ensure_user_accounts(connection: Any, user_ids: Sequence[uuid.UUID]) -> None:
    """Create the accounts that do not exist yet, in user id order (so two
    batches creating the same accounts wait for each other, never deadlock)."""
    await connection.execute(
        "INSERT INTO billing.accounts (kind, user_id) "
        "SELECT 'user', u FROM unnest($1::uuid[]) AS u "
        "WHERE NOT EXISTS (SELECT 1 FROM billing.accounts a WHERE a.user_id = u) "
        "ORDER BY u ON CONFLICT (user_id) DO NOTHING",
        sorted(set(user_ids)),
    )


async def system_account(connection: Any, kind: str) -> int:
    """The one account of a system kind ('revenue', 'topups', 'writeoff'),
    created with no floor when missing."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"not a system account kind: {kind!r}")
    query = "SELECT id FROM billing.accounts WHERE kind = $1 AND user_id IS NULL"
    found: int | None = await connection.fetchval(query, kind)
    if found is not None:
        return found
    await connection.execute(
        "INSERT INTO billing.accounts (kind, floor) VALUES ($1, NULL) "
        "ON CONFLICT (kind) WHERE user_id IS NULL DO NOTHING",
        kind,
    )
    created: int = await connection.fetchval(query, kind)
    return created


async def lock_accounts(connection: Any, account_ids: Iterable[int]) -> dict[int, AccountState]:
    """Lock accounts for a balance change, in the lock order."""
    rows = await connection.fetch(
        f"SELECT {_ACCOUNT} FROM billing.accounts WHERE id = ANY($1::bigint[]) "
        "ORDER BY (user_id IS NULL), id FOR NO KEY UPDATE",
        list(set(account_ids)),
    )
    return {row["id"]: _state(row) for row in rows}


async def lock_user_accounts(
    connection: Any, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, AccountState]:
    rows = await connection.fetch(
        f"SELECT {_ACCOUNT} FROM billing.accounts WHERE user_id = ANY($1::uuid[]) "
        "ORDER BY id FOR NO KEY UPDATE",
        list(set(user_ids)),
    )
    return {row["user_id"]: _state(row) for row in rows}


async def move_balances(connection: Any, deltas: Mapping[int, Decimal]) -> dict[int, Moved]:
    """Add each delta to its account's balance, guarded by the floor, in one
    statement. Raises `BelowFloor` (the caller's transaction then rolls back)
    when any account would go below its floor."""
    changing = sorted((account_id, delta) for account_id, delta in deltas.items() if delta)
    if not changing:
        return {}
    rows = await connection.fetch(
        "UPDATE billing.accounts AS a "
        "SET balance = a.balance + d.delta, version = a.version + 1 "
        "FROM unnest($1::bigint[], $2::numeric[]) AS d(id, delta) "
        "WHERE a.id = d.id AND (a.floor IS NULL OR a.balance + d.delta >= a.floor) "
        "RETURNING a.id, a.balance, a.floor, a.version",
        [account_id for account_id, _ in changing],
        [delta for _, delta in changing],
    )
    moved = {row["id"]: Moved(**dict(row)) for row in rows}
    refused = [account_id for account_id, _ in changing if account_id not in moved]
    if refused:
        raise BelowFloor(f"account {refused[0]} cannot go below its floor")
    return moved


# ---- transactions and entries ---------------------------------------------------------


def has_ledger_scale(amount: Decimal) -> bool:
    """True when `amount` is exact at the ledger's 12 decimal places."""
    with localcontext(Context(prec=60)):
        return amount == amount.quantize(SCALE)


def check_entries(entries: Sequence[Entry]) -> None:
    """Raise `LedgerError` unless the entries can form a ledger transaction."""
    if len(entries) < 2:
        raise LedgerError("a ledger transaction needs at least two entries")
    for account_id, amount in entries:
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise LedgerError(f"entry for account {account_id}: amount must be a finite Decimal")
        if amount == 0:
            raise LedgerError(f"entry for account {account_id}: amount must not be zero")
        if not has_ledger_scale(amount):
            raise LedgerError(f"entry for account {account_id}: more than {PLACES} places")
    total = sum((amount for _, amount in entries), Decimal(0))
    if total != 0:
        raise LedgerError(f"entries sum to {total}, not zero")


async def insert_transactions(
    connection: Any,
    kind: str,
    event_ids: Sequence[str],
    *,
    price_multipliers: Sequence[Decimal] | None = None,
) -> dict[str, int]:
    """One ledger transaction per event, in the given order: event id -> id.
    A usage charge records the group price multiplier its cost includes."""
    multipliers = [None] * len(event_ids) if price_multipliers is None else price_multipliers
    rows = await connection.fetch(
        "INSERT INTO billing.ledger_transactions (kind, event_id, price_multiplier) "
        "SELECT $1, e, m FROM unnest($2::text[], $3::numeric[]) WITH ORDINALITY AS x(e, m, n) "
        "ORDER BY n RETURNING id, event_id",
        kind,
        list(event_ids),
        list(multipliers),
    )
    return {row["event_id"]: row["id"] for row in rows}


async def insert_entries(
    connection: Any, rows: Sequence[tuple[int, int, Decimal, Decimal | None]]
) -> None:
    """Entries as (transaction id, account id, amount, balance after), ids in order."""
    await connection.execute(
        "INSERT INTO billing.ledger_entries (transaction_id, account_id, amount, balance_after) "
        "SELECT t, a, m, b FROM unnest($1::bigint[], $2::bigint[], $3::numeric[], "
        "$4::numeric[]) WITH ORDINALITY AS e(t, a, m, b, n) ORDER BY n",
        [row[0] for row in rows],
        [row[1] for row in rows],
        [row[2] for row in rows],
        [row[3] for row in rows],
    )


async def post(
    connection: Any,
    kind: str,
    entries: list[Entry],
    *,
    event_id: str | None = None,
    reason: str | None = None,
    created_by: uuid.UUID | None = None,
) -> int:
    """Post one balanced ledger transaction and move the balances; its id.

    Raises `LedgerError` for entries that do not balance, `BelowFloor` when a
    debit would take an account below its floor."""
    if kind not in TRANSACTION_KINDS:
        raise LedgerError(f"unknown ledger transaction kind {kind!r}")
    check_entries(entries)
    deltas: dict[int, Decimal] = {}
    for account_id, amount in entries:
        deltas[account_id] = deltas.get(account_id, Decimal(0)) + amount
    locked = await lock_accounts(connection, deltas)
    if missing := set(deltas) - set(locked):
        raise LedgerError(f"no account {min(missing)}")
    await move_balances(connection, deltas)
    transaction_id: int = await connection.fetchval(
        "INSERT INTO billing.ledger_transactions (kind, event_id, reason, created_by) "
        "VALUES ($1, $2, $3, $4) RETURNING id",
        kind,
        event_id,
        reason,
        created_by,
    )
    running = {account_id: state.balance for account_id, state in locked.items()}
    rows: list[tuple[int, int, Decimal, Decimal | None]] = []
    for account_id, amount in entries:
        running[account_id] += amount
        user = locked[account_id].kind == "user"
        rows.append((transaction_id, account_id, amount, running[account_id] if user else None))
    await insert_entries(connection, rows)
    return transaction_id


# ---- reading ---------------------------------------------------------------------------


async def user_statement(
    connection: Any, user_id: uuid.UUID, *, limit: int, before: int | None
) -> list[StatementLine]:
    """The user's entries, newest first, those with an id below `before`."""
    rows = await connection.fetch(
        "SELECT e.id, e.transaction_id, t.kind, e.amount, e.balance_after, t.event_id, "
        "t.reason, e.created_at, t.price_multiplier "
        "FROM billing.accounts a "
        "JOIN billing.ledger_entries e ON e.account_id = a.id "
        "JOIN billing.ledger_transactions t ON t.id = e.transaction_id "
        "WHERE a.user_id = $1 AND ($2::bigint IS NULL OR e.id < $2) "
        "ORDER BY e.id DESC LIMIT $3",
        user_id,
        before,
        limit,
    )
    return [StatementLine(**dict(row)) for row in rows]
