"""Top-up orders: the state machine, the store, and the one credit of an order
(refunds and disputes: `reversals`; the reconcile checks: `order_checks`).

States and moves (the database's trigger on billing.orders holds the same table):

    pending ──► paid ──► partially_refunded ──► refunded
       │  ▲       │  ▲        │                    ▲
       │  │       │  └─(won)──┤ disputed ──(lost)──┘
       │  │       └──────────►┘   (won after a partial refund: partially_refunded)
       ├─► expired ─┐
       └─► failed ──┴─► paid   (late: the provider says the money was captured)

- `pending`: created before the user is sent to pay; the provider may not
  know it yet (no provider payment id).
- `expired` / `failed`: closed without money. They may still become `paid`:
  when the provider reports money captured for the order (a checkout created
  although its call timed out, a payment captured at the last second), the
  money is ours and the user gets the credit; anything else would be a
  paid-but-not-credited order. No other move leaves them.
- `paid`: credited, exactly once. Never back to pending, expired or failed.
- `partially_refunded` may be refunded again (partially or fully) or disputed.
- `disputed`: ends as `paid` / `partially_refunded` (won: back to where it
  was) or `refunded` (lost).
- `refunded` is final.

Staying in a state is not a move (`check_move` refuses it) except for
`partially_refunded`, which a second partial refund re-enters.

The credit (`credit_order`) is one 'top_up' ledger transaction (topups
-credit, user +credit), its row in billing.order_postings (at most one
'credit' per order: the order id is the idempotency key) and the order's move
to `paid`, all in the caller's database transaction, with the order's row
locked first: concurrent deliveries of the same payment queue on the lock, and
the second finds the order paid.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.billing import ledger
from services.billing.money_fields import money
from services.billing.payments.payment_settings import minor_exponent


class Status(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PAID, Status.EXPIRED, Status.FAILED}),
    Status.EXPIRED: frozenset({Status.PAID}),
    Status.FAILED: frozenset({Status.PAID}),
    Status.PAID: frozenset({Status.REFUNDED, Status.PARTIALLY_REFUNDED, Status.DISPUTED}),
    Status.PARTIALLY_REFUNDED: frozenset(
        {Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED}
    ),
    Status.DISPUTED: frozenset({Status.PAID, Status.PARTIALLY_REFUNDED, Status.REFUNDED}),
    Status.REFUNDED: frozenset(),
}

# States in which the order holds its credit (paid, and what follows paid).
CREDITED = frozenset({Status.PAID, Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED})


class ImpossibleMove(Exception):
    """An order was asked to move where the state machine does not go."""


def can_move(old: Status, new: Status) -> bool:
    return new in TRANSITIONS[old]


def check_move(old: Status, new: Status) -> None:
    if not can_move(old, new):
        raise ImpossibleMove(f"an order cannot move from {old} to {new}")


def to_minor(amount: Decimal, currency: str) -> int:
    """The amount in the currency's minor units; ValueError unless exact."""
    scaled = amount.scaleb(minor_exponent(currency))
    if scaled != scaled.to_integral_value() or scaled <= 0:
        raise ValueError(f"{amount} {currency} is not a whole number of minor units")
    return int(scaled)


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    id: uuid.UUID
    user_id: uuid.UUID
    provider: str
    provider_payment_id: str | None
    payment_reference: str | None
    amount: Decimal
    currency: str
    amount_minor: int
    credit: Decimal
    status: Status
    refunded_minor: int
    failure: str | None
    checkout_url: str | None
    expires_at: datetime | None
    paid_at: datetime | None
    receipt_number: int | None
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        """The order as its owner sees it (JSON)."""
        return {
            "id": str(self.id),
            "status": self.status.value,
            "provider": self.provider,
            "amount": money(self.amount),
            "currency": self.currency,
            "amount_minor": self.amount_minor,
            "credit": money(self.credit),
            "provider_payment_id": self.provider_payment_id,
            "checkout_url": self.checkout_url if self.status is Status.PENDING else None,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "paid_at": None if self.paid_at is None else self.paid_at.isoformat(),
            "failure": self.failure,
            "receipt_number": self.receipt_number,
            "receipt_url": None
            if self.receipt_number is None
            else f"/api/billing/orders/{self.id}/receipt",
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


_COLUMNS = (
    "id, user_id, provider, provider_payment_id, payment_reference, amount, currency, "
    "amount_minor, credit, status, refunded_minor, failure, checkout_url, expires_at, "
    "paid_at, receipt_number, created_at, updated_at"
)


def _order(row: Any) -> Order:
    values = dict(row)
    values["status"] = Status(values["status"])
    return Order(**values)


# For other modules' queries of billing.orders.
COLUMNS = _COLUMNS
from_row = _order


async def create(
    connection: Any,
    *,
    user_id: uuid.UUID,
    provider: str,
    amount: Decimal,
    currency: str,
    credit: Decimal,
) -> Order:
    """A pending order; its minor units are computed here, once, and stored."""
    row = await connection.fetchrow(
        f"INSERT INTO billing.orders (id, user_id, provider, amount, currency, amount_minor, "
        f"credit) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
        uuid.uuid4(),
        user_id,
        provider,
        amount,
        currency,
        to_minor(amount, currency),
        credit,
    )
    return _order(row)


async def get(connection: Any, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM billing.orders WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        order_id,
    )
    return None if row is None else _order(row)


async def find(
    connection: Any,
    *,
    order_id: uuid.UUID | None,
    provider: str,
    provider_payment_id: str | None,
    payment_reference: str | None,
) -> Order | None:
    """The order an event names, locked: by its id first (whatever its provider:
    the caller checks the provider), else by the provider's ids."""
    if order_id is not None:
        return await get(connection, order_id, lock=True)
    if provider_payment_id is not None:
        row = await connection.fetchrow(
            f"SELECT {_COLUMNS} FROM billing.orders WHERE provider = $1 "
            "AND provider_payment_id = $2 FOR UPDATE",
            provider,
            provider_payment_id,
        )
        if row is not None:
            return _order(row)
    if payment_reference is not None:
        row = await connection.fetchrow(
            f"SELECT {_COLUMNS} FROM billing.orders WHERE provider = $1 "
            "AND payment_reference = $2 FOR UPDATE",
            provider,
            payment_reference,
        )
        if row is not None:
            return _order(row)
    return None


async def for_user(
    connection: Any, user_id: uuid.UUID, *, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[Order]:
    """The user's orders, newest first; `before` is the last (created_at, id) seen."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM billing.orders WHERE user_id = $1 "
        "AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) "
        "ORDER BY created_at DESC, id DESC LIMIT $4",
        user_id,
        None if before is None else before[0],
        None if before is None else before[1],
        limit,
    )
    return [_order(row) for row in rows]


async def attach_checkout(
    connection: Any,
    order_id: uuid.UUID,
    *,
    provider_payment_id: str,
    checkout_url: str,
    expires_at: datetime | None,
) -> Order:
    """Store what the provider answered. The order may already be paid (its
    webhook came first) and carry the id: the update keeps its status."""
    row = await connection.fetchrow(
        f"UPDATE billing.orders SET provider_payment_id = $2, checkout_url = $3, "
        f"expires_at = $4 WHERE id = $1 RETURNING {_COLUMNS}",
        order_id,
        provider_payment_id,
        checkout_url,
        expires_at,
    )
    return _order(row)


async def close(connection: Any, order_id: uuid.UUID, status: Status, failure: str | None) -> bool:
    """pending -> expired or failed; False (and no change) from any other state."""
    check_move(Status.PENDING, status)
    if status is Status.PAID:
        raise ImpossibleMove("an order is paid only by credit_order")
    done = await connection.fetchval(
        "UPDATE billing.orders SET status = $2, failure = $3 "
        "WHERE id = $1 AND status = 'pending' RETURNING true",
        order_id,
        status.value,
        failure,
    )
    return bool(done)


async def credit_order(
    connection: Any,
    order: Order,
    *,
    provider_payment_id: str | None,
    payment_reference: str | None,
    reason: str,
) -> int | None:
    """Credit a locked order and move it to paid; the ledger transaction id, or
    None when it was credited before (nothing changes). Run inside the
    caller's database transaction, with `order` read under `find`'s lock."""
    if order.status in CREDITED:
        return None
    check_move(order.status, Status.PAID)
    account = await ledger.user_account(connection, order.user_id)
    topups = await ledger.system_account(connection, "topups")
    transaction_id = await ledger.post(
        connection,
        "top_up",
        [(topups, -order.credit), (account, order.credit)],
        reason=reason,
    )
    # The unique index allows one credit per order: a second raises, and the
    # caller's transaction (ledger posting included) rolls back.
    await connection.execute(
        "INSERT INTO billing.order_postings (transaction_id, order_id, kind, amount) "
        "VALUES ($1, $2, 'credit', $3)",
        transaction_id,
        order.id,
        order.credit,
    )
    # The next receipt number, gapless: the counter row moves in this
    # transaction (migration 0007), and an order keeps the first it got.
    receipt: int = await connection.fetchval(
        "UPDATE billing.receipt_counter SET last = last + 1 WHERE id RETURNING last"
    )
    await connection.execute(
        "UPDATE billing.orders SET status = 'paid', paid_at = now(), "
        "provider_payment_id = COALESCE(provider_payment_id, $2), "
        "payment_reference = COALESCE(payment_reference, $3), "
        "receipt_number = COALESCE(receipt_number, $4) WHERE id = $1",
        order.id,
        provider_payment_id,
        payment_reference,
        receipt,
    )
    return transaction_id
