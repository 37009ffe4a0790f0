"""Refunds and disputes of a paid order: what they take back, and what a won dispute gives back.

Each reversal is a 'refund' ledger transaction (user -amount, topups +amount)
recorded as one of the order's postings ('refund' or 'dispute'); a won
dispute gives the amount back as an 'adjustment' ('dispute_won'). The user's
balance may go below its floor (DESIGN 12): the shortfall is the account's
`debt`. Everything here runs in the caller's database transaction, with the
order's row already locked by the caller.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from services.billing import ledger
from services.billing.payments.orders import Order, Status


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
