"""The payment reconciler against the mock provider over real HTTP: a lost
webhook is settled by asking the provider, once, whichever of the reconciler
and a late webhook comes first; expired checkouts are closed; an unreachable
provider leaves orders for the next round."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.billing.payments import orders, reconciler
from services.billing.payments.setup import PROVIDERS
from services.billing.payments.stripe_provider import StripeProvider
from services.mockpayments.settings import DEV_STRIPE_SECRET_KEY, DEV_STRIPE_WEBHOOK_SECRET
from shared.holds import Holds
from shared.service import DB, REDIS
from shared.settings import Common
from tests.billing.payments_stack import PaymentsStack
from tests.billing.stripe_mock import Mock, balance_of, stripe_with_mock
from tests.conftest import AiohttpClient, AiohttpServer, Stack

NOW = timedelta(0)


@pytest.fixture
async def with_mock(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> tuple[PaymentsStack, Mock]:
    return await stripe_with_mock(stack, common, aiohttp_server, aiohttp_client, retry_delays=())


async def _status(db: Any, order_id: str) -> orders.Status:
    found = await orders.get(db, uuid.UUID(order_id))
    assert found is not None
    return found.status


async def _credits(db: Any, order_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM billing.order_postings WHERE order_id = $1 AND kind = 'credit'",
        uuid.UUID(order_id),
    )
    return count


async def test_a_lost_webhook_is_settled_by_the_reconciler_once(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    order = await (await paying.topup(account, "25")).json()
    await mock.control("/_mock/stripe/webhooks/faults", {"drop": True})
    await mock.control(f"/_mock/stripe/sessions/{order['provider_payment_id']}/pay")
    await asyncio.sleep(0.1)
    assert await balance_of(db, account.id) == 0  # the webhook was lost
    # Not yet old enough: left alone.
    assert await reconciler.run_once(paying.billing.app, timedelta(minutes=5)) == []
    settled = await reconciler.run_once(paying.billing.app, NOW)
    assert settled == [reconciler.Settled(order["order_id"], "credited")]
    assert await balance_of(db, account.id) == Decimal("25")
    assert await _status(db, order["order_id"]) is orders.Status.PAID
    # The lost event arrives after all, twice: nothing more.
    (delivery,) = (await mock.deliveries())["deliveries"]
    await mock.control(
        "/_mock/stripe/webhooks/resend", {"event_id": delivery["event_id"], "copies": 2}
    )
    await asyncio.sleep(0.3)
    assert await _credits(db, order["order_id"]) == 1
    assert await balance_of(db, account.id) == Decimal("25")
    outcomes = await db.fetch(
        "SELECT event_id, outcome FROM billing.payment_events ORDER BY received_at"
    )
    assert [r["outcome"] for r in outcomes] == ["credited", "already_credited"]
    assert outcomes[0]["event_id"] == f"reconcile:{order['order_id']}:paid"
    # Nothing pending: the next round does nothing.
    assert await reconciler.run_once(paying.billing.app, NOW) == []


async def test_the_reconciler_and_the_webhook_racing_credit_once(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    order = await (await paying.topup(account, "10")).json()
    await mock.control("/_mock/stripe/webhooks/faults", {"hold": True})
    await mock.control(f"/_mock/stripe/sessions/{order['provider_payment_id']}/pay")
    await asyncio.gather(
        mock.control("/_mock/stripe/webhooks/release", {}),
        reconciler.run_once(paying.billing.app, NOW),
        reconciler.run_once(paying.billing.app, NOW),
    )
    await asyncio.sleep(0.3)
    assert await _credits(db, order["order_id"]) == 1
    assert await balance_of(db, account.id) == Decimal("10")


async def test_an_expired_checkout_is_closed(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    order = await (await paying.topup(account, "10")).json()
    await mock.control("/_mock/stripe/webhooks/faults", {"drop": True})
    await mock.control(f"/_mock/stripe/sessions/{order['provider_payment_id']}/expire")
    settled = await reconciler.run_once(paying.billing.app, NOW)
    assert settled == [reconciler.Settled(order["order_id"], "expired")]
    assert await _status(db, order["order_id"]) is orders.Status.EXPIRED
    assert await balance_of(db, account.id) == 0


async def test_an_open_checkout_stays_pending(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, _ = with_mock
    account = await paying.user()
    order = await (await paying.topup(account, "10")).json()
    settled = await reconciler.run_once(paying.billing.app, NOW)
    assert settled == [reconciler.Settled(order["order_id"], "pending")]
    assert await _status(db, order["order_id"]) is orders.Status.PENDING


async def test_with_the_provider_unreachable_orders_wait(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, _ = with_mock
    account = await paying.user()
    order = await (await paying.topup(account, "10")).json()
    old = paying.billing.app[PROVIDERS]["stripe"]
    paying.billing.app[PROVIDERS]["stripe"] = StripeProvider(
        secret_key=DEV_STRIPE_SECRET_KEY,
        webhook_secret=DEV_STRIPE_WEBHOOK_SECRET,
        api_base="http://127.0.0.1:9",
        max_network_retries=0,
    )
    try:
        settled = await reconciler.run_once(paying.billing.app, NOW)
    finally:
        await paying.billing.app[PROVIDERS]["stripe"].close()
        paying.billing.app[PROVIDERS]["stripe"] = old
    assert settled == [reconciler.Settled(order["order_id"], "unreachable")]
    assert await _status(db, order["order_id"]) is orders.Status.PENDING


async def test_an_order_whose_checkout_never_answered_expires_after_a_day(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, _ = with_mock
    old, recent = uuid.uuid4(), uuid.uuid4()
    for order_id, age in ((old, timedelta(days=2)), (recent, timedelta(hours=1))):
        await db.execute(
            "INSERT INTO billing.orders (id, user_id, provider, amount, currency, amount_minor, "
            "credit, created_at) VALUES ($1, $2, 'stripe', 10, 'USD', 1000, 10, "
            "now() - $3::interval)",
            order_id,
            uuid.uuid4(),
            age,
        )
    settled = await reconciler.run_once(paying.billing.app, NOW)
    assert settled is not None
    assert sorted(settled, key=lambda s: s.outcome) == [
        reconciler.Settled(str(old), "no_checkout"),
        reconciler.Settled(str(recent), "pending"),
    ]
    assert await _status(db, str(old)) is orders.Status.EXPIRED


async def test_a_lost_refund_webhook_is_found_among_the_providers_events(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    account = await paying.user()
    order = await (await paying.topup(account, "10.50")).json()
    await mock.control(f"/_mock/stripe/sessions/{order['provider_payment_id']}/pay")
    for _ in range(100):
        if await balance_of(db, account.id) > 0:
            break
        await asyncio.sleep(0.02)
    assert await balance_of(db, account.id) == Decimal("10.50")
    # A refund made in Stripe's dashboard; its webhook is lost.
    await mock.control("/_mock/stripe/webhooks/faults", {"drop": True})
    await mock.control(
        "/_mock/stripe/refunds",
        {"payment": order["provider_payment_id"], "amount": 300, "reason": "requested_by_customer"},
    )
    await asyncio.sleep(0.1)
    assert await balance_of(db, account.id) == Decimal("10.50")
    app = paying.billing.app
    pool: Any = app[DB]
    providers = app[PROVIDERS]
    holds = Holds(app[REDIS])
    async with pool.acquire() as connection:
        found = await reconciler.sweep_events(
            connection, providers, holds, now=time.time() + 1, older_than=NOW
        )
        assert [s.outcome for s in found] == ["partially_refunded"]
        again = await reconciler.sweep_events(
            connection, providers, holds, now=time.time() + 1, older_than=NOW
        )
        assert again == []
    assert await balance_of(db, account.id) == Decimal("7.50")
    assert await _status(db, order["order_id"]) is orders.Status.PARTIALLY_REFUNDED
