"""`tollgate reconcile` and top-up orders: clean after real top-ups, and naming
an order credited twice, or paid without its credit, when a test forges it in
the database."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.billing import ledger
from services.cli.reconcile import reconcile
from shared.settings import Common
from tests.billing.payments_stack import PaymentsStack, payments_stack, session_event, signed
from tests.conftest import AiohttpClient, AiohttpServer, Stack


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> PaymentsStack:
    return await payments_stack(stack, common, aiohttp_server, aiohttp_client)


async def _paid_order(paying: PaymentsStack, amount: str = "12.34") -> tuple[str, dict[str, Any]]:
    account = await paying.user()
    order = await (await paying.topup(account, amount)).json()
    event = session_event(
        order["order_id"],
        session_id=order["provider_payment_id"],
        amount_minor=int(amount.replace(".", "")),
    )
    answers = await asyncio.gather(*(paying.webhook(*signed(event)) for _ in range(3)))
    assert all(a.status == 200 for a in answers)
    return account.id, order


async def test_reconcile_is_clean_after_top_ups(paying: PaymentsStack, common: Common) -> None:
    await _paid_order(paying)
    await _paid_order(paying, "5.00")
    pending = await paying.user()
    assert (await paying.topup(pending, "7")).status == 201  # a pending order is fine too
    violations, _ = await reconcile(common.database_url, common.redis_url)
    assert violations == []


async def test_reconcile_names_an_order_credited_twice(
    paying: PaymentsStack, common: Common, db: Any
) -> None:
    user_id, order = await _paid_order(paying)
    # A second credit for the order, posted by hand with the credit's own reason.
    reason = await db.fetchval(
        "SELECT t.reason FROM billing.order_postings p "
        "JOIN billing.ledger_transactions t ON t.id = p.transaction_id WHERE p.order_id = $1",
        uuid.UUID(order["order_id"]),
    )
    async with db.transaction():
        account = await ledger.user_account(db, uuid.UUID(user_id))
        topups = await ledger.system_account(db, "topups")
        forged = await ledger.post(
            db,
            "top_up",
            [(topups, -Decimal("12.34")), (account, Decimal("12.34"))],
            reason=reason,
        )
    violations, _ = await reconcile(common.database_url, common.redis_url)
    assert violations == [
        f"orders: ledger transaction {forged} is a top-up credit naming an order whose "
        "credit it is not (an order credited twice?)"
    ]


async def test_reconcile_names_an_order_marked_paid_without_its_credit(
    paying: PaymentsStack, common: Common, db: Any
) -> None:
    account = await paying.user()
    order = await (await paying.topup(account, "9")).json()
    await db.execute(
        "UPDATE billing.orders SET status = 'paid', paid_at = now() WHERE id = $1",
        uuid.UUID(order["order_id"]),
    )
    violations, _ = await reconcile(common.database_url, common.redis_url)
    assert len(violations) == 1
    assert violations[0].startswith(f"orders: order {order['order_id']} (paid) is not credited")
    assert "0 credit transaction(s)" in violations[0]


async def test_reconcile_names_a_refund_that_was_not_reversed(
    paying: PaymentsStack, common: Common, db: Any
) -> None:
    from tests.billing.test_refunds_disputes import _charge_refunded

    account = await paying.user()
    order = await (await paying.topup(account, "10.50")).json()
    intent = "pi_" + uuid.uuid4().hex
    paid = session_event(
        order["order_id"], session_id=order["provider_payment_id"], payment_intent=intent
    )
    await paying.webhook(*signed(paid))
    await paying.webhook(*signed(_charge_refunded(intent, 300)))
    assert (await reconcile(common.database_url, common.redis_url))[0] == []
    # Someone records more refunded by hand, with no reversal for it.
    await db.execute(
        "UPDATE billing.orders SET refunded_minor = 500 WHERE id = $1",
        uuid.UUID(order["order_id"]),
    )
    violations, _ = await reconcile(common.database_url, common.redis_url)
    assert violations == [
        f"orders: order {order['order_id']} (partially_refunded) has 3.00 reversed, which is "
        "not its credit's share of 500 of 1050 minor units refunded"
    ]
