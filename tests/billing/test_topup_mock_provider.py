"""Top-ups end to end against the mock payment provider (services/mockpayments),
over real HTTP: billing's official `stripe` client creates the Checkout
Session at the mock, the buyer pays there, and the mock's signed webhooks come
back through the public gateway. Real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.billing.payments import orders
from shared.settings import Common
from tests.billing.payments_stack import PaymentsStack
from tests.billing.stripe_mock import Mock, balance_of, stripe_with_mock
from tests.conftest import AiohttpClient, AiohttpServer, Stack


@pytest.fixture
async def with_mock(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> tuple[PaymentsStack, Mock]:
    return await stripe_with_mock(
        stack, common, aiohttp_server, aiohttp_client, retry_delays=(0.2, 0.5)
    )


async def _settled(mock: Mock, count: int) -> list[Any]:
    """Wait until `count` deliveries are no longer pending (at most 10 s)."""
    for _ in range(200):
        found = await mock.deliveries()
        items = found["deliveries"]
        done = [d for d in items if d.get("status") not in ("pending", "held")]
        if len(done) >= count:
            return items  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"webhooks not delivered: {found}")


async def test_paying_at_the_mock_credits_once_with_five_copies_of_the_webhook(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    response = await paying.topup(account, "20")
    assert response.status == 201, await response.text()
    order = await response.json()
    assert order["checkout_url"].startswith(str(mock.server.make_url("/stripe/pay/")))
    await mock.control("/_mock/stripe/webhooks/faults", {"copies": 5})
    await mock.control(f"/_mock/stripe/sessions/{order['provider_payment_id']}/pay")
    await _settled(mock, 1)
    for _ in range(100):
        if await balance_of(db, account.id) > 0:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # let every copy land
    assert await balance_of(db, account.id) == Decimal("20")
    stored = await orders.get(db, uuid.UUID(order["order_id"]))
    assert stored is not None and stored.status is orders.Status.PAID
    assert stored.payment_reference is not None  # the PaymentIntent, for refunds
    credits = await db.fetchval(
        "SELECT count(*) FROM billing.order_postings WHERE order_id = $1", stored.id
    )
    assert credits == 1


async def test_a_webhook_that_lands_before_the_checkout_answer_credits_once(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    await mock.control("/_mock/stripe/api/faults", {"pay_first": True})
    response = await paying.topup(account, "10")
    assert response.status == 201, await response.text()
    order = await response.json()
    await _settled(mock, 1)
    assert await balance_of(db, account.id) == Decimal("10")
    stored = await orders.get(db, uuid.UUID(order["order_id"]))
    assert stored is not None and stored.status is orders.Status.PAID
    assert stored.provider_payment_id == order["provider_payment_id"]


async def test_with_the_mock_answering_503_the_top_up_fails_cleanly(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    # The stripe client retries twice (same idempotency key): every try fails.
    await mock.control("/_mock/stripe/api/faults", {"count": 3, "status": 503})
    response = await paying.topup(account, "10")
    assert response.status == 503
    assert "nothing was charged" in (await response.json())["error"]["message"]
    assert [r["status"] for r in await db.fetch("SELECT status FROM billing.orders")] == ["failed"]
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0


async def test_a_badly_signed_webhook_credits_nothing_and_the_good_resend_credits(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    order = await (await paying.topup(account, "5")).json()
    await mock.control("/_mock/stripe/webhooks/faults", {"bad_signature": True, "copies": 2})
    await mock.control(f"/_mock/stripe/sessions/{order['provider_payment_id']}/pay")
    (delivery,) = await _settled(mock, 1)
    assert {a["status"] for a in delivery["attempts"]} == {400}
    assert await balance_of(db, account.id) == Decimal(0)
    assert await db.fetchval("SELECT count(*) FROM billing.payment_events") == 0
    # Sent again, signed with the right secret: now it credits, once.
    await mock.control(
        "/_mock/stripe/webhooks/resend", {"event_id": delivery["event_id"], "copies": 3}
    )
    for _ in range(100):
        if await balance_of(db, account.id) > 0:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert await balance_of(db, account.id) == Decimal("5")
