"""The order state machine, in Python and in the database's trigger, and what
never changes on an order."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.billing.payments import orders
from services.billing.payments.orders import TRANSITIONS, ImpossibleMove, Status, to_minor

ALLOWED = {
    ("pending", "paid"),
    ("pending", "expired"),
    ("pending", "failed"),
    ("expired", "paid"),
    ("failed", "paid"),
    ("paid", "refunded"),
    ("paid", "partially_refunded"),
    ("paid", "disputed"),
    ("partially_refunded", "partially_refunded"),
    ("partially_refunded", "refunded"),
    ("partially_refunded", "disputed"),
    ("disputed", "paid"),
    ("disputed", "partially_refunded"),
    ("disputed", "refunded"),
}
ALL_PAIRS = list(itertools.product(Status, Status))
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if (a.value, b.value) not in ALLOWED]


def test_the_table_is_the_documented_one() -> None:
    table = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("old", "new"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_every_forbidden_move_is_refused(old: Status, new: Status) -> None:
    assert not orders.can_move(old, new)
    with pytest.raises(ImpossibleMove):
        orders.check_move(old, new)


def test_refunded_is_final_and_nothing_returns_to_pending() -> None:
    assert not TRANSITIONS[Status.REFUNDED]
    assert all(Status.PENDING not in targets for targets in TRANSITIONS.values())


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("10.50", "USD", 1050),
        ("5", "USD", 500),
        ("0.01", "EUR", 1),
        ("500", "JPY", 500),
        ("1.234", "KWD", 1234),
    ],
)
def test_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [("10.505", "USD"), ("1.5", "JPY"), ("0", "USD")])
def test_amounts_not_whole_in_minor_units_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(ValueError):
        to_minor(Decimal(amount), currency)


async def _order_in(db: Any, status: Status) -> uuid.UUID:
    """An order put straight into `status` (rows inserted as they would be after the moves)."""
    order_id = uuid.uuid4()
    paid = status not in (Status.PENDING, Status.EXPIRED, Status.FAILED)
    await db.execute(
        "INSERT INTO billing.orders (id, user_id, provider, amount, currency, amount_minor, "
        "credit, status, paid_at) VALUES ($1, $2, 'stripe', 10, 'USD', 1000, 10, $3, "
        "CASE WHEN $4 THEN now() END)",
        order_id,
        uuid.uuid4(),
        status.value,
        paid,
    )
    return order_id


@pytest.mark.parametrize(
    ("old", "new"),
    [(a, b) for a, b in FORBIDDEN if a is not b],
    ids=[f"{a}->{b}" for a, b in FORBIDDEN if a is not b],
)
async def test_the_database_refuses_every_forbidden_move(db: Any, old: Status, new: Status) -> None:
    order_id = await _order_in(db, old)
    with pytest.raises(asyncpg.CheckViolationError, match="not a possible move"):
        await db.execute(
            "UPDATE billing.orders SET status = $2, paid_at = COALESCE(paid_at, now()) "
            "WHERE id = $1",
            order_id,
            new.value,
        )


@pytest.mark.parametrize(("old", "new"), sorted(ALLOWED))
async def test_the_database_allows_every_documented_move(db: Any, old: str, new: str) -> None:
    order_id = await _order_in(db, Status(old))
    await db.execute(
        "UPDATE billing.orders SET status = $2, paid_at = COALESCE(paid_at, now()) WHERE id = $1",
        order_id,
        new,
    )


@pytest.mark.parametrize(
    "change",
    [
        "amount = 11",
        "amount_minor = 1",
        "currency = 'EUR'",
        "credit = 1000",
        "user_id = gen_random_uuid()",
        "provider = 'creem'",
    ],
)
async def test_an_orders_money_never_changes(db: Any, change: str) -> None:
    order_id = await _order_in(db, Status.PENDING)
    with pytest.raises(asyncpg.CheckViolationError, match="never change"):
        await db.execute(f"UPDATE billing.orders SET {change} WHERE id = $1", order_id)


async def test_the_provider_payment_id_is_set_once(db: Any) -> None:
    order_id = await _order_in(db, Status.PENDING)
    await orders.attach_checkout(
        db, order_id, provider_payment_id="cs_1", checkout_url="https://x.test/1", expires_at=None
    )
    # The same id again is fine (a webhook stored it first); another is refused.
    await orders.attach_checkout(
        db, order_id, provider_payment_id="cs_1", checkout_url="https://x.test/1", expires_at=None
    )
    with pytest.raises(asyncpg.CheckViolationError, match="set once"):
        await orders.attach_checkout(
            db,
            order_id,
            provider_payment_id="cs_2",
            checkout_url="https://x.test/2",
            expires_at=None,
        )


async def test_orders_are_never_deleted(db: Any) -> None:
    order_id = await _order_in(db, Status.PENDING)
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
        await db.execute("DELETE FROM billing.orders WHERE id = $1", order_id)


async def test_an_order_is_credited_once_even_if_the_code_asked_twice(db: Any) -> None:
    """The unique credit index is the backstop behind the status check."""
    order = await orders.create(
        db,
        user_id=uuid.uuid4(),
        provider="stripe",
        amount=Decimal("7.25"),
        currency="USD",
        credit=Decimal("7.25"),
    )
    async with db.transaction():
        first = await orders.credit_order(
            db, order, provider_payment_id="cs_x", payment_reference="pi_x", reason="test"
        )
    assert first is not None
    # A stale copy of the order (read as pending) tries again: refused by the index.
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():
            await orders.credit_order(
                db, order, provider_payment_id="cs_x", payment_reference="pi_x", reason="test"
            )
    count = await db.fetchval(
        "SELECT count(*) FROM billing.order_postings WHERE order_id = $1", order.id
    )
    assert count == 1
    assert await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", order.user_id
    ) == Decimal("7.25")


async def test_closing_moves_only_pending_orders(db: Any) -> None:
    order_id = await _order_in(db, Status.PAID)
    assert not await orders.close(db, order_id, Status.EXPIRED, None)
    assert (await orders.get(db, order_id)).status is Status.PAID  # type: ignore[union-attr]
    with pytest.raises(ImpossibleMove):
        await orders.close(db, order_id, Status.REFUNDED, None)
