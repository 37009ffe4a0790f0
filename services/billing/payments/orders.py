"""Top-up orders: the state machine, the store, and the one credit of an order.

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
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
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


# ---- refunds and disputes ---------------------------------------------------------------


def credit_for(order: Order, minor: int) -> Decimal:
    """The part of the order's credit that `minor` units of its payment bought."""
    if minor == order.amount_minor:
        return order.credit
    with localcontext(Context(prec=60)):
        part = order.credit * minor / order.amount_minor
    return part.quantize(ledger.SCALE, rounding=ROUND_HALF_EVEN)


async def post_reversal(
    connection: Any, order: Order, *, amount: Decimal, kind: str, reason: str
) -> int:
    """Take `amount` of the order's credit back from its user (a 'refund' ledger
    transaction: user -amount, topups +amount), recorded as the order's `kind`
    posting ('refund' or 'dispute'). The user's balance may go below its floor:
    the shortfall is the account's `debt` (migration 0006). In the caller's
    database transaction."""
    account = await ledger.user_account(connection, order.user_id)
    topups = await ledger.system_account(connection, "topups")
    entries: list[ledger.Entry] = [(account, -amount), (topups, amount)]
    ledger.check_entries(entries)
    await ledger.lock_accounts(connection, [account, topups])
    balance_after: Decimal = await connection.fetchval(
        "UPDATE billing.accounts SET balance = balance - $2, version = version + 1, "
        "debt = GREATEST(0, floor - (balance - $2)) WHERE id = $1 RETURNING balance",
        account,
        amount,
    )
    await ledger.move_balances(connection, {topups: amount})
    transaction_id: int = await connection.fetchval(
        "INSERT INTO billing.ledger_transactions (kind, reason) VALUES ('refund', $1) RETURNING id",
        reason,
    )
    await ledger.insert_entries(
        connection,
        [(transaction_id, account, -amount, balance_after), (transaction_id, topups, amount, None)],
    )
    await _posting(connection, transaction_id, order.id, kind, amount)
    return transaction_id


async def restore_credit(connection: Any, order: Order, *, amount: Decimal, reason: str) -> int:
    """Give back what a dispute took when the dispute is won (an 'adjustment')."""
    account = await ledger.user_account(connection, order.user_id)
    topups = await ledger.system_account(connection, "topups")
    transaction_id = await ledger.post(
        connection, "adjustment", [(topups, -amount), (account, amount)], reason=reason
    )
    await _posting(connection, transaction_id, order.id, "dispute_won", amount)
    return transaction_id


async def _posting(
    connection: Any, transaction_id: int, order_id: uuid.UUID, kind: str, amount: Decimal
) -> None:
    await connection.execute(
        "INSERT INTO billing.order_postings (transaction_id, order_id, kind, amount) "
        "VALUES ($1, $2, $3, $4)",
        transaction_id,
        order_id,
        kind,
        amount,
    )


async def disputed_credit(connection: Any, order_id: uuid.UUID) -> Decimal:
    """What open disputes took from the order and was not given back."""
    held: Decimal = await connection.fetchval(
        "SELECT COALESCE(sum(amount) FILTER (WHERE kind = 'dispute'), 0) "
        "- COALESCE(sum(amount) FILTER (WHERE kind = 'dispute_won'), 0) "
        "FROM billing.order_postings WHERE order_id = $1",
        order_id,
    )
    return held


async def touch_account(connection: Any, user_id: uuid.UUID) -> None:
    """A new version of the user's account with no balance change, so a new
    snapshot replaces the gateways' one (a dispute closed: the floor holds
    see changes, accounts.SPENDING_FLOOR)."""
    await connection.execute(
        "UPDATE billing.accounts SET version = version + 1 WHERE kind = 'user' AND user_id = $1",
        user_id,
    )


async def set_refund_state(
    connection: Any, order_id: uuid.UUID, *, status: Status, refunded_minor: int
) -> None:
    await connection.execute(
        "UPDATE billing.orders SET status = $2, refunded_minor = $3 WHERE id = $1",
        order_id,
        status.value,
        refunded_minor,
    )


# ---- reconcile ----------------------------------------------------------------------

# For `tollgate reconcile` (services/billing/reconcile.py): every order in a
# credited state has exactly one credit posting, a 'top_up' ledger transaction
# moving exactly its credit to its user; no other order has one; and no
# 'top_up' transaction names an order (its reason) without being that order's
# credit, which catches a credit posted twice by hand or by a bug.
RECONCILE = """
SELECT o.id, o.status, o.credit, count(DISTINCT p.transaction_id) AS credits,
       COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user' AND a.user_id = o.user_id), 0)
           AS credited,
       min(p.transaction_id) AS transaction_id
FROM billing.orders o
LEFT JOIN billing.order_postings p ON p.order_id = o.id AND p.kind = 'credit'
LEFT JOIN billing.ledger_transactions t ON t.id = p.transaction_id
LEFT JOIN billing.ledger_entries e ON e.transaction_id = t.id
LEFT JOIN billing.accounts a ON a.id = e.account_id
GROUP BY o.id, o.status, o.credit
HAVING (o.status IN ('paid', 'partially_refunded', 'refunded', 'disputed')
        AND (count(DISTINCT p.transaction_id) <> 1
             OR COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user' AND a.user_id = o.user_id), 0)
                <> o.credit
             OR bool_or(t.kind IS DISTINCT FROM 'top_up')
             OR bool_or(p.amount <> o.credit)))
    OR (o.status NOT IN ('paid', 'partially_refunded', 'refunded', 'disputed')
        AND count(DISTINCT p.transaction_id) > 0)
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, t.id
FROM billing.ledger_transactions t
WHERE t.kind = 'top_up' AND t.reason LIKE 'top-up: order %'
  AND NOT EXISTS (SELECT 1 FROM billing.order_postings p
                  WHERE p.transaction_id = t.id AND p.kind = 'credit'
                    AND t.reason LIKE 'top-up: order ' || p.order_id::text || ' %')
ORDER BY 6
"""


def describe_problem(row: Any) -> str:
    if row["id"] is None:
        return (
            f"orders: ledger transaction {row['transaction_id']} is a top-up credit naming an "
            "order whose credit it is not (an order credited twice?)"
        )
    return (
        f"orders: order {row['id']} ({row['status']}) is not credited exactly once with its "
        f"credit {money(row['credit'])}: {row['credits']} credit transaction(s) (first "
        f"{row['transaction_id']}), {money(row['credited'])} credited"
    )


# Reversals (refunds, disputes) agree with the order: what was taken back, less
# what won disputes gave back, is the credit's share of what the provider
# refunded (plus what an open dispute holds); and each reversal's ledger
# transaction moves exactly its amount on the order's user.
REVERSALS = """
SELECT o.id, o.status, o.refunded_minor, o.amount_minor, NULL::bigint AS transaction_id,
       COALESCE(sum(p.amount) FILTER (WHERE p.kind IN ('refund', 'dispute')), 0)
         - COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute_won'), 0) AS reversed
FROM billing.orders o
JOIN billing.order_postings p ON p.order_id = o.id
GROUP BY o.id, o.status, o.refunded_minor, o.amount_minor, o.credit
HAVING abs(
    COALESCE(sum(p.amount) FILTER (WHERE p.kind IN ('refund', 'dispute')), 0)
    - COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute_won'), 0)
    - o.credit * o.refunded_minor / o.amount_minor
    - CASE WHEN o.status = 'disputed'
           THEN COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute'), 0)
                - COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute_won'), 0)
           ELSE 0 END
) > count(*) * 0.000000000001
UNION ALL
SELECT p.order_id, p.kind, NULL, NULL, p.transaction_id, p.amount
FROM billing.order_postings p
JOIN billing.orders o ON o.id = p.order_id
LEFT JOIN billing.ledger_entries e ON e.transaction_id = p.transaction_id
LEFT JOIN billing.accounts a ON a.id = e.account_id AND a.user_id = o.user_id
WHERE p.kind <> 'credit'
GROUP BY p.order_id, p.kind, p.transaction_id, p.amount
HAVING COALESCE(sum(e.amount) FILTER (WHERE a.id IS NOT NULL), 0)
       <> CASE p.kind WHEN 'dispute_won' THEN p.amount ELSE -p.amount END
ORDER BY 1
"""


def describe_reversal(row: Any) -> str:
    if row["transaction_id"] is not None:
        return (
            f"orders: order {row['id']}'s {row['status']} posting (ledger transaction "
            f"{row['transaction_id']}) does not move {money(row['reversed'])} on its user"
        )
    return (
        f"orders: order {row['id']} ({row['status']}) has {money(row['reversed'])} reversed, "
        f"which is not its credit's share of {row['refunded_minor']} of "
        f"{row['amount_minor']} minor units refunded"
    )
