"""Refunds and disputes the provider reports (Stripe's documented events, signed
as Stripe signs them, through the public gateway): reversals in the ledger,
the balance going below zero where the credit was spent, holds then refused,
repeats and out-of-order events changing nothing twice; reconcile clean."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.billing import ledger
from services.billing.payments import orders
from services.cli.reconcile import reconcile
from shared.holds import Holds, Placed
from shared.settings import Common
from tests.accounts import Account
from tests.billing.payments_stack import PaymentsStack, payments_stack, session_event, signed
from tests.conftest import AiohttpClient, AiohttpServer, Stack


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> PaymentsStack:
    return await payments_stack(stack, common, aiohttp_server, aiohttp_client)


def _charge_refunded(intent: str, total: int, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + uuid.uuid4().hex,
        "object": "event",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "ch_" + intent,
                "object": "charge",
                "amount": 1050,
                "amount_refunded": total,
                "currency": "usd",
                "payment_intent": intent,
                "metadata": {},
            }
        },
    }


def _dispute(intent: str, *, closed: str | None = None, amount: int = 1050) -> dict[str, Any]:
    return {
        "id": "evt_" + uuid.uuid4().hex,
        "object": "event",
        "type": "charge.dispute.closed" if closed else "charge.dispute.created",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "dp_" + intent,
                "object": "dispute",
                "amount": amount,
                "currency": "usd",
                "charge": "ch_" + intent,
                "payment_intent": intent,
                "status": closed or "needs_response",
            }
        },
    }


async def _paid(paying: PaymentsStack) -> tuple[Account, str, str]:
    """A user with a credited 10.50 top-up: (account, order id, PaymentIntent)."""
    account = await paying.user()
    order = await (await paying.topup(account, "10.50")).json()
    intent = "pi_" + uuid.uuid4().hex
    paid = session_event(
        order["order_id"], session_id=order["provider_payment_id"], payment_intent=intent
    )
    response = await paying.webhook(*signed(paid))
    assert (await response.json())["outcome"] == "credited"
    return account, order["order_id"], intent


async def _spend(db: Any, account: Account, amount: str) -> None:
    async with db.transaction():
        user = await ledger.user_account(db, uuid.UUID(account.id))
        revenue = await ledger.system_account(db, "revenue")
        await ledger.post(
            db, "adjustment", [(user, -Decimal(amount)), (revenue, Decimal(amount))], reason="spent"
        )


async def _balance(db: Any, account: Account) -> Decimal:
    found: Decimal = await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", uuid.UUID(account.id)
    )
    return found


async def _order(db: Any, order_id: str) -> orders.Order:
    found = await orders.get(db, uuid.UUID(order_id))
    assert found is not None
    return found


async def _outcome(paying: PaymentsStack, event: dict[str, Any]) -> Any:
    response = await paying.webhook(*signed(event))
    assert response.status == 200, await response.text()
    return (await response.json()).get("outcome")


async def test_a_full_refund_after_spending_leaves_a_debt_that_holds_refuse(
    paying: PaymentsStack, db: Any, redis: Any, common: Common
) -> None:
    account, order_id, intent = await _paid(paying)
    await _spend(db, account, "8.00")
    refund = _charge_refunded(intent, 1050)
    assert await _outcome(paying, refund) == "refunded"
    assert await _outcome(paying, refund) is None  # the same event again: a duplicate
    assert await _balance(db, account) == Decimal("-8.00")
    order = await _order(db, order_id)
    assert order.status is orders.Status.REFUNDED and order.refunded_minor == 1050
    debt = await db.fetchval(
        "SELECT debt FROM billing.accounts WHERE user_id = $1", uuid.UUID(account.id)
    )
    assert debt == Decimal("8.00")
    # The gateways' snapshot has the debt: no hold is placed, however small.
    placed = await Holds(redis).place(
        uuid.UUID(account.id), "h1", Decimal("0.000001"), int(time.time() * 1000)
    )
    assert placed is Placed.REFUSED
    me = await paying.gateway.get(
        "/api/billing/balance", headers={"Authorization": f"Bearer {account.token}"}
    )
    assert (await me.json())["balance"] == "-8.00"
    assert (await me.json())["available"] == "0.00"
    violations, _ = await reconcile(common.database_url, common.redis_url)
    assert violations == []


async def test_partial_refunds_reverse_each_new_part_once(
    paying: PaymentsStack, db: Any, common: Common
) -> None:
    account, order_id, intent = await _paid(paying)
    first = _charge_refunded(intent, 300)
    assert await _outcome(paying, first) == "partially_refunded"
    assert await _balance(db, account) == Decimal("7.50")
    # A later refund: the event carries the total so far (300 + 400).
    assert await _outcome(paying, _charge_refunded(intent, 700)) == "partially_refunded"
    assert await _balance(db, account) == Decimal("3.50")
    # An older total arriving late (another event id) changes nothing.
    assert await _outcome(paying, _charge_refunded(intent, 300)) == "no_change"
    assert await _outcome(paying, _charge_refunded(intent, 1050)) == "refunded"
    assert await _balance(db, account) == Decimal("0.00")
    order = await _order(db, order_id)
    assert order.status is orders.Status.REFUNDED
    reversals = await db.fetch(
        "SELECT amount FROM billing.order_postings WHERE order_id = $1 AND kind = 'refund' "
        "ORDER BY created_at, transaction_id",
        uuid.UUID(order_id),
    )
    assert [r["amount"] for r in reversals] == [Decimal("3"), Decimal("4"), Decimal("3.5")]
    assert (await reconcile(common.database_url, common.redis_url))[0] == []


async def test_a_refund_before_the_payment_is_credited_is_sent_again_later(
    paying: PaymentsStack, db: Any
) -> None:
    account = await paying.user()
    order = await (await paying.topup(account, "10.50")).json()
    intent = "pi_" + uuid.uuid4().hex
    refund = _charge_refunded(intent, 1050)
    # Stripe would find it by the PaymentIntent only once the order is paid;
    # here the refund names the order by its metadata, before any payment event.
    refund["data"]["object"]["metadata"] = {"order_id": order["order_id"]}
    early = await paying.webhook(*signed(refund))
    assert early.status == 503
    assert early.headers["Retry-After"] == "60"
    assert await db.fetchval("SELECT count(*) FROM billing.payment_events") == 0
    paid = session_event(
        order["order_id"], session_id=order["provider_payment_id"], payment_intent=intent
    )
    assert await _outcome(paying, paid) == "credited"
    assert await _outcome(paying, refund) == "refunded"  # the provider's retry
    assert await _balance(db, account) == Decimal("0.00")


async def test_a_dispute_takes_the_credit_and_a_won_dispute_gives_it_back(
    paying: PaymentsStack, db: Any, common: Common
) -> None:
    account, order_id, intent = await _paid(paying)
    await _spend(db, account, "2.00")
    assert await _outcome(paying, _dispute(intent)) == "disputed"
    assert await _balance(db, account) == Decimal("-2.00")
    assert (await _order(db, order_id)).status is orders.Status.DISPUTED
    assert await _outcome(paying, _dispute(intent)) == "no_change"  # opened twice
    assert await _outcome(paying, _dispute(intent, closed="won")) == "dispute_won"
    assert await _balance(db, account) == Decimal("8.50")
    assert (await _order(db, order_id)).status is orders.Status.PAID
    assert (await reconcile(common.database_url, common.redis_url))[0] == []


async def test_a_lost_dispute_keeps_the_credit_taken(
    paying: PaymentsStack, db: Any, common: Common
) -> None:
    account, order_id, intent = await _paid(paying)
    assert await _outcome(paying, _charge_refunded(intent, 50)) == "partially_refunded"
    assert await _outcome(paying, _dispute(intent, amount=1000)) == "disputed"
    assert await _balance(db, account) == Decimal("0.00")
    assert await _outcome(paying, _dispute(intent, closed="lost")) == "dispute_lost"
    order = await _order(db, order_id)
    assert order.status is orders.Status.REFUNDED and order.refunded_minor == 1050
    assert await _balance(db, account) == Decimal("0.00")
    assert (await reconcile(common.database_url, common.redis_url))[0] == []


async def test_a_dispute_closing_before_it_was_seen_opening_is_sent_again_later(
    paying: PaymentsStack, db: Any
) -> None:
    account, _, intent = await _paid(paying)
    closed = _dispute(intent, closed="lost")
    assert (await paying.webhook(*signed(closed))).status == 503
    assert await _outcome(paying, _dispute(intent)) == "disputed"
    assert await _outcome(paying, closed) == "dispute_lost"
    assert await _balance(db, account) == Decimal("0.00")


async def test_a_refund_in_another_currency_credits_nothing_back(
    paying: PaymentsStack, db: Any
) -> None:
    account, _, intent = await _paid(paying)
    refund = _charge_refunded(intent, 1050)
    refund["data"]["object"]["currency"] = "eur"
    assert await _outcome(paying, refund) == "mismatch"
    assert await _balance(db, account) == Decimal("10.50")


async def test_an_admin_closes_a_dispute_the_provider_never_closes(
    paying: PaymentsStack, db: Any, common: Common
) -> None:
    from tests.billing.conftest import make_admin

    admin = await make_admin(paying.stack, db)
    account, order_id, intent = await _paid(paying)
    path = f"/api/admin/orders/{order_id}/dispute"
    headers = {"Authorization": f"Bearer {admin.token}"}
    # Not disputed yet: nothing to close.
    assert (await paying.gateway.post(path, json={"outcome": "won"}, headers=headers)).status == 409
    assert await _outcome(paying, _dispute(intent)) == "disputed"
    assert await _balance(db, account) == Decimal("0.00")
    bad = await paying.gateway.post(path, json={"outcome": "maybe"}, headers=headers)
    assert bad.status == 422
    user = {"Authorization": f"Bearer {account.token}"}
    assert (await paying.gateway.post(path, json={"outcome": "won"}, headers=user)).status == 403
    closed = await paying.gateway.post(path, json={"outcome": "won"}, headers=headers)
    assert closed.status == 200
    assert (await closed.json())["order"]["status"] == "paid"
    assert await _balance(db, account) == Decimal("10.50")
    assert (await reconcile(common.database_url, common.redis_url))[0] == []
