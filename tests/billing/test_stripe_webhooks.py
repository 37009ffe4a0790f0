"""Stripe webhooks through the public gateway, over real HTTP, with real
PostgreSQL and Redis: a top-up is credited once, whatever arrives how often;
nothing unverified or mismatched credits anything."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.billing.payments import orders
from services.billing.payments.setup import PAYMENT_METRICS
from shared.holds import keys
from shared.settings import Common
from tests.accounts import Account
from tests.billing.payments_stack import (
    PaymentsStack,
    payments_stack,
    session_event,
    signed,
)
from tests.conftest import AiohttpClient, AiohttpServer, Stack


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> PaymentsStack:
    return await payments_stack(stack, common, aiohttp_server, aiohttp_client)


async def _balance(db: Any, user_id: str | uuid.UUID) -> Decimal:
    found = await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", uuid.UUID(str(user_id))
    )
    return Decimal(0) if found is None else Decimal(found)


async def _credits(db: Any, order_id: str | uuid.UUID) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM billing.order_postings WHERE order_id = $1 AND kind = 'credit'",
        uuid.UUID(str(order_id)),
    )
    return count


async def _top_up_transactions(db: Any) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM billing.ledger_transactions WHERE kind = 'top_up'"
    )
    return count


async def _started(paying: PaymentsStack, amount: str = "10.50") -> tuple[Account, dict[str, Any]]:
    account = await paying.user()
    response = await paying.topup(account, amount)
    assert response.status == 201, await response.text()
    return account, await response.json()


async def test_one_checkout_completed_delivered_ten_times_credits_once(
    paying: PaymentsStack, db: Any, redis: Any
) -> None:
    account, order = await _started(paying)
    event = session_event(
        order["order_id"], session_id=order["provider_payment_id"], payment_intent="pi_test_1"
    )
    body, headers = signed(event)
    answers = await asyncio.gather(*(paying.webhook(body, headers) for _ in range(5)))
    assert [a.status for a in answers] == [200] * 5
    outcomes = [await a.json() for a in answers]
    assert sum(1 for o in outcomes if o.get("outcome") == "credited") == 1
    assert sum(1 for o in outcomes if o["duplicate"]) == 4
    # An hour later (billing's clock moved, Stripe signs with its new time): five more.
    paying.clock.offset += 3600
    body, headers = signed(event, at=time.time() + 3600)
    later = await asyncio.gather(*(paying.webhook(body, headers) for _ in range(5)))
    assert [a.status for a in later] == [200] * 5
    assert all([(await a.json())["duplicate"] for a in later])
    assert await _credits(db, order["order_id"]) == 1
    assert await _top_up_transactions(db) == 1
    assert await _balance(db, account.id) == Decimal("10.50")
    stored = await orders.get(db, uuid.UUID(order["order_id"]))
    assert stored is not None and stored.status is orders.Status.PAID
    assert stored.payment_reference == "pi_test_1"
    # The gateways' snapshot has the new balance (refreshed after commit).
    snapshot = await redis.hgetall(keys(uuid.UUID(account.id))[0])
    assert snapshot[b"bal"] == b"10500000000", snapshot  # nano-units
    me = await paying.gateway.get(
        "/api/billing/balance", headers={"Authorization": f"Bearer {account.token}"}
    )
    assert (await me.json())["balance"] == "10.50"


async def test_two_events_for_one_payment_credit_once(paying: PaymentsStack, db: Any) -> None:
    account, order = await _started(paying)
    session = order["provider_payment_id"]
    completed = session_event(order["order_id"], session_id=session)
    succeeded = session_event(
        order["order_id"],
        session_id=session,
        event_type="checkout.session.async_payment_succeeded",
    )
    answers = await asyncio.gather(
        *(paying.webhook(*signed(event)) for event in (completed, succeeded) for _ in range(3))
    )
    assert all(a.status == 200 for a in answers)
    assert await _credits(db, order["order_id"]) == 1
    assert await _balance(db, account.id) == Decimal("10.50")


@pytest.mark.parametrize(
    "spoil",
    ["forged", "unsigned", "stale", "future", "other_body", "garbage_header"],
)
async def test_unverified_webhooks_credit_nothing(
    paying: PaymentsStack, db: Any, spoil: str
) -> None:
    account, order = await _started(paying)
    event = session_event(order["order_id"], session_id=order["provider_payment_id"])
    body, headers = signed(event)
    if spoil == "forged":
        body, headers = signed(event, secret="whsec_someone_else")
    elif spoil == "unsigned":
        del headers["Stripe-Signature"]
    elif spoil == "stale":
        body, headers = signed(event, at=time.time() - 301)
    elif spoil == "future":
        body, headers = signed(event, at=time.time() + 301)
    elif spoil == "other_body":
        other = session_event(order["order_id"], amount_minor=1)
        body = signed(other)[0]  # a body that header never signed
    elif spoil == "garbage_header":
        headers["Stripe-Signature"] = "v1=deadbeef,t=notatime"
    response = await paying.webhook(body, headers)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "webhook_refused"
    assert await _credits(db, order["order_id"]) == 0
    assert await _balance(db, account.id) == Decimal(0)
    assert await db.fetchval("SELECT count(*) FROM billing.payment_events") == 0
    metrics = paying.billing.app[PAYMENT_METRICS]
    assert metrics.refused.labels("stripe")._value.get() == 1


async def test_several_v1_signatures_any_one_matching_verifies(
    paying: PaymentsStack, db: Any
) -> None:
    account, order = await _started(paying)
    event = session_event(order["order_id"], session_id=order["provider_payment_id"])
    body, headers = signed(event)
    t, v1 = headers["Stripe-Signature"].split(",")
    headers["Stripe-Signature"] = f"{t},v1={'0' * 64},{v1},v0=abc"
    response = await paying.webhook(body, headers)
    assert response.status == 200
    assert await _balance(db, account.id) == Decimal("10.50")


async def test_a_missing_secret_refuses_every_webhook(
    stack: Stack,
    common: Common,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    db: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="services.billing.payments.setup")
    paying = await payments_stack(
        stack, common, aiohttp_server, aiohttp_client, webhook_secret=None
    )
    # Billing says so when it starts.
    said = [r for r in caplog.records if r.getMessage() == "payment webhooks refused"]
    assert said and "STRIPE_WEBHOOK_SECRET is not set" in said[0].reason  # type: ignore[attr-defined]
    account, order = await _started(paying)
    event = session_event(order["order_id"], session_id=order["provider_payment_id"])
    for body, headers in (signed(event), signed(event, secret="")):
        response = await paying.webhook(body, headers)
        assert response.status == 400
    assert await _balance(db, account.id) == Decimal(0)


async def _alerts(paying: PaymentsStack, reason: str) -> float:
    value: float = paying.billing.app[PAYMENT_METRICS].alerts.labels("stripe", reason)._value.get()
    return value


@pytest.mark.parametrize(
    "change",
    [
        {"amount_minor": 1049},
        {"amount_minor": 1},
        {"currency": "eur"},
        {"session_id": "cs_test_not_this_order"},
    ],
)
async def test_a_payment_that_does_not_match_its_order_credits_nothing(
    paying: PaymentsStack, db: Any, change: dict[str, Any]
) -> None:
    account, order = await _started(paying)
    values: dict[str, Any] = {"session_id": order["provider_payment_id"], **change}
    response = await paying.webhook(*signed(session_event(order["order_id"], **values)))
    # Acknowledged (a retry could not change it), recorded, alerted; no credit.
    assert response.status == 200
    assert (await response.json())["outcome"] == "mismatch"
    assert await _credits(db, order["order_id"]) == 0
    assert await _balance(db, account.id) == Decimal(0)
    assert await _alerts(paying, "mismatch") == 1
    stored = await orders.get(db, uuid.UUID(order["order_id"]))
    assert stored is not None and stored.status is orders.Status.PENDING


async def test_an_event_for_another_providers_order_credits_nothing(
    paying: PaymentsStack, db: Any
) -> None:
    account = await paying.user()
    creem_order = await orders.create(
        db,
        user_id=uuid.UUID(account.id),
        provider="creem",
        amount=Decimal("10.50"),
        currency="USD",
        credit=Decimal("10.50"),
    )
    response = await paying.webhook(*signed(session_event(creem_order.id)))
    assert response.status == 200
    assert (await response.json())["outcome"] == "mismatch"
    assert await _credits(db, creem_order.id) == 0
    assert await _balance(db, account.id) == Decimal(0)


async def test_an_event_naming_no_order_credits_nothing(paying: PaymentsStack, db: Any) -> None:
    response = await paying.webhook(*signed(session_event(uuid.uuid4())))
    assert response.status == 200
    assert (await response.json())["outcome"] == "unknown_order"
    assert await _top_up_transactions(db) == 0
    assert await _alerts(paying, "unknown_order") == 1


async def test_unpaid_completion_credits_nothing_until_the_async_payment_succeeds(
    paying: PaymentsStack, db: Any
) -> None:
    account, order = await _started(paying)
    session = order["provider_payment_id"]
    unpaid = session_event(order["order_id"], session_id=session, payment_status="unpaid")
    response = await paying.webhook(*signed(unpaid))
    assert response.status == 200 and (await response.json())["outcome"] == "ignored"
    assert await _balance(db, account.id) == Decimal(0)
    succeeded = session_event(
        order["order_id"],
        session_id=session,
        event_type="checkout.session.async_payment_succeeded",
    )
    response = await paying.webhook(*signed(succeeded))
    assert (await response.json())["outcome"] == "credited"
    assert await _balance(db, account.id) == Decimal("10.50")


async def test_an_async_payment_failure_fails_the_order(paying: PaymentsStack, db: Any) -> None:
    account, order = await _started(paying)
    failed = session_event(
        order["order_id"],
        session_id=order["provider_payment_id"],
        event_type="checkout.session.async_payment_failed",
        payment_status="unpaid",
    )
    response = await paying.webhook(*signed(failed))
    assert (await response.json())["outcome"] == "failed"
    stored = await orders.get(db, uuid.UUID(order["order_id"]))
    assert stored is not None and stored.status is orders.Status.FAILED
    assert await _balance(db, account.id) == Decimal(0)


async def test_an_expired_checkout_closes_the_order_and_a_late_payment_still_credits(
    paying: PaymentsStack, db: Any
) -> None:
    account, order = await _started(paying)
    session = order["provider_payment_id"]
    expired = session_event(
        order["order_id"],
        session_id=session,
        event_type="checkout.session.expired",
        payment_status="unpaid",
        payment_intent=None,
    )
    assert (await (await paying.webhook(*signed(expired))).json())["outcome"] == "expired"
    stored = await orders.get(db, uuid.UUID(order["order_id"]))
    assert stored is not None and stored.status is orders.Status.EXPIRED
    # The provider later says the money was captured: it is the user's.
    paid = session_event(order["order_id"], session_id=session)
    assert (await (await paying.webhook(*signed(paid))).json())["outcome"] == "credited"
    assert await _balance(db, account.id) == Decimal("10.50")


async def test_an_event_before_the_checkout_call_returned_credits_once(
    paying: PaymentsStack, db: Any
) -> None:
    """The order is pending with no provider id yet: the event finds it by its
    client_reference_id / metadata, and the checkout's answer stored after
    it leaves the order paid."""
    account = await paying.user()
    order = await orders.create(
        db,
        user_id=uuid.UUID(account.id),
        provider="stripe",
        amount=Decimal("10.50"),
        currency="USD",
        credit=Decimal("10.50"),
    )
    assert order.provider_payment_id is None
    event = session_event(order.id, session_id="cs_test_early")
    answers = await asyncio.gather(*(paying.webhook(*signed(event)) for _ in range(3)))
    assert all(a.status == 200 for a in answers)
    await orders.attach_checkout(
        db,
        order.id,
        provider_payment_id="cs_test_early",
        checkout_url="https://checkout.stripe.test/c/pay/cs_test_early",
        expires_at=None,
    )
    stored = await orders.get(db, order.id)
    assert stored is not None and stored.status is orders.Status.PAID
    assert stored.provider_payment_id == "cs_test_early"
    assert await _credits(db, order.id) == 1
    assert await _balance(db, account.id) == Decimal("10.50")


async def test_a_refund_event_finds_its_order_by_the_payment_intent(
    paying: PaymentsStack, db: Any
) -> None:
    account, order = await _started(paying)
    paid = session_event(
        order["order_id"], session_id=order["provider_payment_id"], payment_intent="pi_test_1"
    )
    await paying.webhook(*signed(paid))
    refund = {
        "id": "evt_refund_1",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "amount": 1050,
                "amount_refunded": 500,
                "currency": "usd",
                "payment_intent": "pi_test_1",
                "metadata": {},
            }
        },
    }
    response = await paying.webhook(*signed(refund))
    assert response.status == 200
    assert (await response.json())["outcome"] == "partially_refunded"
    row = await db.fetchrow(
        "SELECT order_id, outcome FROM billing.payment_events WHERE event_id = 'evt_refund_1'"
    )
    assert row["order_id"] == uuid.UUID(order["order_id"])  # found by the PaymentIntent
    assert await _balance(db, account.id) == Decimal("5.50")
