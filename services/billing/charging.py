"""Charging usage events, exactly once, a batch per database transaction.

`charge_batch` is what the billing stream consumer calls with the events it
decoded (`shared.usage_event`: an event that cannot be read never gets here,
it is dead-lettered); the consumer acknowledges them only after this returns
(after commit). Rules:

- One database transaction per batch: the dedupe records, the ledger
  transactions, the entries and every balance change commit together or not
  at all. A crash mid-batch leaves nothing; the redelivered batch starts over.
- Exactly once: `usage_charges` has one row per event id ever charged.
  Duplicates inside the batch (same event id twice) and events charged by an
  earlier batch are skipped and reported. The users' accounts are locked
  (in id order) before the existing-charge check, and every charge happens
  under its user's lock, so the check cannot race another consumer; the
  claim itself is `INSERT ... ON CONFLICT DO NOTHING`, and a claim that finds
  a conflict anyway rolls the batch back and retries it.
- Floor guard and write-offs: see `charge_plan`. The balance update is one
  conditional UPDATE for all users (`... WHERE balance + delta >= floor`);
  the accounts are locked, so it cannot fail, and if it ever did the batch
  rolls back (`BelowFloor`) rather than charge past a floor.
- Ledger: each event that cost something is one 'usage_charge' transaction:
  user -charged, revenue +cost, writeoff -written_off (zero amounts left
  out); the transaction records the group price multiplier the cost
  includes. System accounts move once per batch, last (lock order).
- Low-balance alerts: accounts the batch took below their threshold are
  marked and their alert queued in this same transaction (`low_balance`).
- Spend anomalies: what each event cost is added to its account's and key's
  five-minute bucket, one statement per batch (`spend_anomaly`, whose
  detector reads them outside this transaction).
- Set-based SQL: a fixed number of statements per batch, whatever its size.
- Deadlocks and claim races are retried a few times with a fresh transaction.
  Any other PostgreSQL error propagates with nothing committed; the stream
  consumer decides whether retrying can cure it (see `shared.stream_consumer`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from services.billing import ledger, low_balance, price_store, spend_anomaly
from services.billing.charge_plan import BatchPlan, PlannedCharge, plan_batch
from services.billing.usage_events import UsageCharge, charge_of
from shared.usage_event import UsageEvent

_log = logging.getLogger(__name__)
ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """A user's account after the batch, for the gateway's Redis snapshot."""

    balance: Decimal
    floor: Decimal
    version: int


@dataclass(frozen=True, slots=True)
class ChargedEvent:
    event_id: str
    hold_id: str | None
    user_id: uuid.UUID
    cost: Decimal
    charged: Decimal
    written_off: Decimal


@dataclass(frozen=True, slots=True)
class ChargeBatchResult:
    charged: list[ChargedEvent] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    balances: dict[uuid.UUID, AccountSnapshot] = field(default_factory=dict)


class _ClaimRaced(Exception):
    """An event was claimed by someone else after the check: retry the batch."""


_RETRYABLE = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UniqueViolationError,
    _ClaimRaced,
)


def read_batch(events: Sequence[UsageEvent]) -> tuple[list[UsageCharge], list[str]]:
    """(the first event of each id, in order; duplicate ids within the batch)."""
    unique: dict[str, UsageCharge] = {}
    duplicates: list[str] = []
    for event in events:
        if event.event_id in unique:
            duplicates.append(event.event_id)
        else:
            unique[event.event_id] = charge_of(event)
    return list(unique.values()), duplicates


async def charge_batch(pool: Any, events: Sequence[UsageEvent]) -> ChargeBatchResult:
    """Charge a batch of decoded usage events; see the module docstring."""
    unique, duplicates = read_batch(events)
    if not unique:
        return ChargeBatchResult(duplicates=duplicates)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with pool.acquire() as connection, connection.transaction():
                result = await _charge(connection, unique)
            break
        except _RETRYABLE as exc:
            if attempt == ATTEMPTS:
                raise
            _log.warning(
                "charge batch retried", extra={"attempt": attempt, "reason": type(exc).__name__}
            )
    return ChargeBatchResult(
        charged=result.charged,
        duplicates=duplicates + result.duplicates,
        balances=result.balances,
    )


async def _charge(connection: Any, events: list[UsageCharge]) -> ChargeBatchResult:
    user_ids = sorted({event.user_id for event in events})
    await ledger.ensure_user_accounts(connection, user_ids)
    accounts = await ledger.lock_user_accounts(connection, user_ids)
    seen = await connection.fetch(
        "SELECT event_id FROM billing.usage_charges WHERE event_id = ANY($1::text[])",
        [event.event_id for event in events],
    )
    charged_before = {row["event_id"] for row in seen}
    fresh = [event for event in events if event.event_id not in charged_before]
    duplicates = [event.event_id for event in events if event.event_id in charged_before]
    if not fresh:
        return ChargeBatchResult(duplicates=duplicates)
    models = {event.model for event in fresh if event.model is not None}
    versions = await price_store.versions_for(connection, sorted(models))
    balances = {}
    for user_id, state in accounts.items():
        assert state.floor is not None  # every user account has one (CHECK)
        balances[user_id] = (state.balance, state.floor)
    plan = plan_batch(fresh, versions, balances)
    for event in plan.unpriced:
        _log.warning(
            "usage event has no price at its time; charged 0",
            extra={"event_id": event.event_id, "model": event.model, "ts": event.ts.isoformat()},
        )
    transactions = await _post_charges(connection, plan, accounts)
    await _record_charges(connection, plan, transactions)
    moved = await ledger.move_balances(
        connection, {accounts[user].id: delta for user, delta in plan.user_deltas.items()}
    )
    await _move_system_accounts(connection, plan)
    # The low-balance alert: accounts this batch took below their threshold
    # are marked and one mail each is queued, in this transaction.
    await low_balance.mark_crossings(
        connection, [user for user, delta in plan.user_deltas.items() if delta]
    )
    await spend_anomaly.record_spend(connection, plan.charges)
    return ChargeBatchResult(
        charged=[_charged(charge) for charge in plan.charges],
        duplicates=duplicates,
        balances=_snapshots(plan, accounts, moved),
    )


def _charged(charge: PlannedCharge) -> ChargedEvent:
    return ChargedEvent(
        event_id=charge.event.event_id,
        hold_id=charge.event.hold_id,
        user_id=charge.event.user_id,
        cost=charge.cost,
        charged=charge.charged,
        written_off=charge.written_off,
    )


async def _post_charges(
    connection: Any, plan: BatchPlan, accounts: Mapping[uuid.UUID, ledger.AccountState]
) -> dict[str, int]:
    """The ledger transactions and entries of the events that cost something."""
    costly = [charge for charge in plan.charges if charge.cost > 0]
    if not costly:
        return {}
    transactions = await ledger.insert_transactions(
        connection,
        "usage_charge",
        [charge.event.event_id for charge in costly],
        price_multipliers=[charge.event.price_multiplier for charge in costly],
    )
    revenue = await ledger.system_account(connection, "revenue")
    writeoff = await ledger.system_account(connection, "writeoff") if plan.written_off > 0 else None
    rows: list[tuple[int, int, Decimal, Decimal | None]] = []
    for charge in costly:
        transaction_id = transactions[charge.event.event_id]
        if charge.charged > 0:
            user_account = accounts[charge.event.user_id].id
            rows.append((transaction_id, user_account, -charge.charged, charge.balance_after))
        rows.append((transaction_id, revenue, charge.cost, None))
        if charge.written_off > 0:
            assert writeoff is not None
            rows.append((transaction_id, writeoff, -charge.written_off, None))
    await ledger.insert_entries(connection, rows)
    return transactions


async def _record_charges(connection: Any, plan: BatchPlan, transactions: dict[str, int]) -> None:
    """The dedupe records; a conflict here means another consumer got there first."""
    charges = plan.charges
    claimed = await connection.fetch(
        "INSERT INTO billing.usage_charges (event_id, user_id, transaction_id, cost, charged, "
        "written_off, price_effective_from, hold_id) "
        "SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::numeric[], "
        "$5::numeric[], $6::numeric[], $7::timestamptz[], $8::text[]) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        [c.event.event_id for c in charges],
        [c.event.user_id for c in charges],
        [transactions.get(c.event.event_id) for c in charges],
        [c.cost for c in charges],
        [c.charged for c in charges],
        [c.written_off for c in charges],
        [c.price_effective_from for c in charges],
        [c.event.hold_id for c in charges],
    )
    if len(claimed) != len(charges):
        raise _ClaimRaced()


async def _move_system_accounts(connection: Any, plan: BatchPlan) -> None:
    deltas: dict[int, Decimal] = {}
    if plan.revenue > 0:
        deltas[await ledger.system_account(connection, "revenue")] = plan.revenue
    if plan.written_off > 0:
        deltas[await ledger.system_account(connection, "writeoff")] = -plan.written_off
    # Locked in id order first: one UPDATE of both rows would lock them in
    # whatever order its plan reads them, and two batches could deadlock.
    await ledger.lock_accounts(connection, deltas)
    await ledger.move_balances(connection, deltas)


def _snapshots(
    plan: BatchPlan,
    accounts: Mapping[uuid.UUID, ledger.AccountState],
    moved: Mapping[int, ledger.Moved],
) -> dict[uuid.UUID, AccountSnapshot]:
    snapshots: dict[uuid.UUID, AccountSnapshot] = {}
    for user_id in plan.user_deltas:
        state = accounts[user_id]
        after = moved.get(state.id)
        balance, version = (
            (after.balance, after.version) if after else (state.balance, state.version)
        )
        assert state.floor is not None
        snapshots[user_id] = AccountSnapshot(balance=balance, floor=state.floor, version=version)
    return snapshots
