"""Creem end to end over real HTTP: the mock payment provider speaking Creem's
API and signing its webhooks, billing with Creem enabled behind the public
gateway, real PostgreSQL and Redis. A person tops up 10 USD, pays on the
mock's hosted page, and the signed `checkout.completed` credits the order
once, however often it is delivered."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.billing.app import create_app as create_billing
from services.billing.payments import reconciler
from services.billing.payments.creem_provider import CreemProvider
from services.billing.payments.payment_settings import CreemSettings, PaymentSettings
from services.billing.payments.provider import (
    CheckoutRequest,
    EventKind,
    PaymentStatus,
    ProviderRefused,
    RefundRequest,
    WebhookRefused,
)
from services.billing.payments.setup import CLOCK
from services.billing.settings import Settings as BillingSettings
from services.gateway.app import create_app as create_gateway
from services.mockpayments.app import create_app as create_mock_payments
from services.mockpayments.settings import (
    DEV_CREEM_API_KEY,
    DEV_CREEM_WEBHOOK_SECRET,
    Endpoint,
    dev_product_id,
)
from services.mockpayments.settings import Settings as MockSettings
from shared.settings import Common
from tests.accounts import Account, sign_up
from tests.conftest import AiohttpClient, AiohttpServer, Stack, gateway_settings_for
from tests.mockpayments.receiver import Receiver

PACKS = ("5", "10", "20", "50", "100")  # the mock's default products, one a pack


def creem_settings(
    mock: TestServer, secret: str | None = DEV_CREEM_WEBHOOK_SECRET
) -> CreemSettings:
    return CreemSettings(
        api_key=DEV_CREEM_API_KEY,
        webhook_secret=secret,
        api_base=str(mock.make_url("/creem")),
        products={Decimal(pack): dev_product_id(pack) for pack in PACKS},
    )


@dataclass(frozen=True)
class CreemStack:
    gateway: TestClient[web.Request, web.Application]
    mock: TestServer
    stack: Stack
    billing: TestServer

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with aiohttp.ClientSession() as http:
            method = http.get if body is None else http.post
            async with method(str(self.mock.make_url(path)), json=body) as answer:
                assert answer.status == 200, await answer.text()
                return await answer.json()

    async def deliveries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.control("/_mock/creem/webhooks"))["deliveries"]
        return found

    async def settled(self, event_id: str, attempts: int) -> dict[str, Any]:
        """The delivery once `attempts` posts of it were answered."""
        async with asyncio.timeout(20):
            while True:
                for delivery in await self.deliveries():
                    answered = [a for a in delivery["attempts"] if a["status"] is not None]
                    if delivery["event_id"] == event_id and len(answered) >= attempts:
                        return delivery
                await asyncio.sleep(0.05)


@pytest.fixture
async def creem_stack(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> CreemStack:
    mock = await aiohttp_server(
        create_mock_payments(
            MockSettings(
                creem_webhook=Endpoint(secret=DEV_CREEM_WEBHOOK_SECRET), retry_delays=(0.2, 0.5)
            )
        )
    )
    auth_url = str(stack.auth.make_url("")).rstrip("/")
    billing = await aiohttp_server(
        create_billing(
            BillingSettings(
                common=common,
                consumer=False,
                auth_url=auth_url,
                payments=PaymentSettings(providers=("creem",), creem=creem_settings(mock)),
            )
        )
    )
    gateway = await aiohttp_client(
        create_gateway(
            gateway_settings_for(
                common,
                auth_url=auth_url,
                billing_url=str(billing.make_url("")).rstrip("/"),
                usage_url=str(stack.usage.make_url("")).rstrip("/"),
            )
        )
    )
    made = CreemStack(gateway=gateway, mock=mock, stack=stack, billing=billing)
    # Creem posts to the webhook URL registered in its dashboard: the gateway's.
    await made.control(
        "/_mock/creem/webhooks/config",
        {"url": str(gateway.make_url("/api/billing/webhooks/creem"))},
    )
    return made


async def top_up(creem: CreemStack, account: Account, amount: str) -> tuple[int, Any]:
    response = await creem.gateway.post(
        "/api/billing/topups",
        json={"amount": amount, "provider": "creem"},
        headers={"Authorization": f"Bearer {account.token}"},
    )
    return response.status, await response.json()


async def pay_on_the_hosted_page(checkout_url: str) -> str:
    """As a person: open the checkout page, press Pay; where Creem sends them back."""
    async with aiohttp.ClientSession() as browser:
        async with browser.get(checkout_url) as page:
            assert page.status == 200
            html = await page.text()
        assert re.search(r"10\.00", html), html
        async with browser.post(
            checkout_url, data={"action": "pay"}, allow_redirects=False
        ) as paid:
            assert paid.status == 303, await paid.text()
            return paid.headers["Location"]


async def balance(db: Any, user_id: str) -> Decimal:
    found = await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", uuid.UUID(user_id)
    )
    return Decimal(0) if found is None else Decimal(found)


async def credits(db: Any, order_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM billing.order_postings WHERE order_id = $1 AND kind = 'credit'",
        uuid.UUID(order_id),
    )
    return count


async def test_a_creem_top_up_is_credited_once_however_often_creem_says_so(
    creem_stack: CreemStack, db: Any
) -> None:
    account = await sign_up(creem_stack.stack.gateway)
    status, order = await top_up(creem_stack, account, "10")
    assert status == 201, order
    assert order["checkout_url"].startswith(str(creem_stack.mock.make_url("/creem/pay/")))

    back = await pay_on_the_hosted_page(order["checkout_url"])
    assert f"request_id={order['order_id']}" in back
    assert "/billing/topup/result?order=" + order["order_id"] in back

    (event,) = (await creem_stack.control("/_mock/creem/events"))["events"]
    assert event["eventType"] == "checkout.completed"
    delivery = await creem_stack.settled(event["id"], 1)
    assert [a["status"] for a in delivery["attempts"]] == [200]
    assert await credits(db, order["order_id"]) == 1
    assert await balance(db, account.id) == Decimal(10)
    stored = await db.fetchrow(
        "SELECT status, provider_payment_id, payment_reference, amount_minor "
        "FROM billing.orders WHERE id = $1",
        uuid.UUID(order["order_id"]),
    )
    assert stored["status"] == "paid" and stored["amount_minor"] == 1000
    assert stored["provider_payment_id"] == event["object"]["id"]
    assert stored["payment_reference"] == event["object"]["order"]["transaction"]

    # The same event five times at once, as a retrying Creem might: acknowledged, no credit.
    await creem_stack.control(
        "/_mock/creem/webhooks/resend", {"event_id": event["id"], "copies": 5}
    )
    delivery = await creem_stack.settled(event["id"], 6)
    assert [a["status"] for a in delivery["attempts"]] == [200] * 6
    assert await credits(db, order["order_id"]) == 1
    assert await balance(db, account.id) == Decimal(10)
    top_ups = await db.fetchval(
        "SELECT count(*) FROM billing.ledger_transactions WHERE kind = 'top_up'"
    )
    assert top_ups == 1
    # Five more an hour later (billing's and the mock's clocks moved): Creem signs no
    # time, so they verify, and are acknowledged as seen before.
    creem_stack.billing.app[CLOCK].offset += 3600
    await creem_stack.control("/_mock/clock", {"offset": 3600})
    await creem_stack.control(
        "/_mock/creem/webhooks/resend", {"event_id": event["id"], "copies": 5}
    )
    delivery = await creem_stack.settled(event["id"], 11)
    assert [a["status"] for a in delivery["attempts"]] == [200] * 11
    assert await credits(db, order["order_id"]) == 1
    assert await balance(db, account.id) == Decimal(10)

    # Signed with another secret: refused (400), and Creem's retries are refused too.
    await creem_stack.control(
        "/_mock/creem/webhooks/resend", {"event_id": event["id"], "bad_signature": True}
    )
    delivery = await creem_stack.settled(event["id"], 14)
    assert [a["status"] for a in delivery["attempts"]][11:] == [400, 400, 400]
    assert await balance(db, account.id) == Decimal(10)


async def test_creem_refunds_and_disputes_reach_their_order(
    creem_stack: CreemStack, db: Any
) -> None:
    account = await sign_up(creem_stack.stack.gateway)
    _, order = await top_up(creem_stack, account, "20")
    await press_pay(order["checkout_url"])
    (paid,) = (await creem_stack.control("/_mock/creem/events"))["events"]
    await creem_stack.settled(paid["id"], 1)
    transaction = paid["object"]["order"]["transaction"]
    # A refund made in Creem's dashboard, then a chargeback: each recorded on the order.
    await creem_stack.control("/_mock/creem/refunds", {"payment": transaction, "amount": 500})
    await creem_stack.control("/_mock/creem/disputes", {"payment": transaction})
    events = (await creem_stack.control("/_mock/creem/events"))["events"]
    assert [e["eventType"] for e in events] == [
        "checkout.completed",
        "refund.created",
        "dispute.created",
    ]
    for later in events[1:]:
        await creem_stack.settled(later["id"], 1)
    recorded = await db.fetch(
        "SELECT type, kind, order_id FROM billing.payment_events WHERE provider = 'creem' "
        "ORDER BY type"
    )
    assert [(r["type"], r["kind"]) for r in recorded] == [
        ("checkout.completed", "paid"),
        ("dispute.created", "dispute_opened"),
        ("refund.created", "refunded"),
    ]
    assert {r["order_id"] for r in recorded} == {uuid.UUID(order["order_id"])}


async def press_pay(checkout_url: str) -> None:
    async with aiohttp.ClientSession() as browser:
        async with browser.post(
            checkout_url, data={"action": "pay"}, allow_redirects=False
        ) as paid:
            assert paid.status == 303


async def test_a_webhook_that_beats_the_checkout_answer_still_credits_once(
    creem_stack: CreemStack, db: Any
) -> None:
    account = await sign_up(creem_stack.stack.gateway)
    # Creem pays the checkout and posts checkout.completed before it answers the create call.
    await creem_stack.control("/_mock/creem/api/faults", {"pay_first": True, "delay": 1})
    status, order = await top_up(creem_stack, account, "10")
    assert status == 201, order
    (event,) = (await creem_stack.control("/_mock/creem/events"))["events"]
    delivery = await creem_stack.settled(event["id"], 1)
    assert [a["status"] for a in delivery["attempts"]] == [200]
    assert await credits(db, order["order_id"]) == 1
    assert await balance(db, account.id) == Decimal(10)
    stored = await db.fetchrow(
        "SELECT status, provider_payment_id FROM billing.orders WHERE id = $1",
        uuid.UUID(order["order_id"]),
    )
    assert (stored["status"], stored["provider_payment_id"]) == ("paid", event["object"]["id"])


async def test_creem_failing_leaves_a_failed_order_and_no_credit(
    creem_stack: CreemStack, db: Any
) -> None:
    account = await sign_up(creem_stack.stack.gateway)
    await creem_stack.control("/_mock/creem/api/faults", {"status": 503})
    status, answer = await top_up(creem_stack, account, "10")
    assert status == 503, answer
    (row,) = await db.fetch(
        "SELECT status FROM billing.orders WHERE user_id = $1", uuid.UUID(account.id)
    )
    assert row["status"] == "failed"
    assert await balance(db, account.id) == Decimal(0)
    assert (await creem_stack.control("/_mock/creem/events"))["events"] == []


async def test_a_lost_creem_webhook_is_settled_by_the_reconciler_once(
    creem_stack: CreemStack, db: Any
) -> None:
    account = await sign_up(creem_stack.stack.gateway)
    _, order = await top_up(creem_stack, account, "50")
    await creem_stack.control("/_mock/creem/webhooks/faults", {"drop": True})
    await press_pay(order["checkout_url"])
    (event,) = (await creem_stack.control("/_mock/creem/events"))["events"]
    assert await balance(db, account.id) == Decimal(0)  # nothing arrived

    settled = await reconciler.run_once(creem_stack.billing.app, timedelta(0))
    assert settled is not None
    assert [(s.order_id, s.outcome) for s in settled] == [(order["order_id"], "credited")]
    assert await balance(db, account.id) == Decimal(50)
    stored = await db.fetchrow(
        "SELECT status, payment_reference FROM billing.orders WHERE id = $1",
        uuid.UUID(order["order_id"]),
    )
    assert stored["status"] == "paid"
    assert stored["payment_reference"] == event["object"]["order"]["transaction"]
    # The webhook comes after all (Creem's dashboard resend): acknowledged, nothing more.
    await creem_stack.control("/_mock/creem/webhooks/resend", {"event_id": event["id"]})
    delivery = await creem_stack.settled(event["id"], 1)
    assert [a["status"] for a in delivery["attempts"]] == [200]
    assert await credits(db, order["order_id"]) == 1
    assert await balance(db, account.id) == Decimal(50)


async def test_the_reconciler_closes_an_expired_creem_checkout_and_leaves_an_open_one(
    creem_stack: CreemStack, db: Any
) -> None:
    account = await sign_up(creem_stack.stack.gateway)
    _, expired = await top_up(creem_stack, account, "5")
    _, still_open = await top_up(creem_stack, account, "20")
    await creem_stack.control(f"/_mock/creem/checkouts/{expired['provider_payment_id']}/expire", {})
    settled = await reconciler.run_once(creem_stack.billing.app, timedelta(0))
    assert settled is not None
    assert sorted((s.order_id, s.outcome) for s in settled) == sorted(
        [(expired["order_id"], "expired"), (still_open["order_id"], "pending")]
    )
    statuses = {
        str(row["id"]): row["status"]
        for row in await db.fetch("SELECT id, status FROM billing.orders")
    }
    assert statuses == {expired["order_id"]: "expired", still_open["order_id"]: "pending"}
    assert await balance(db, account.id) == Decimal(0)


async def test_an_amount_creem_has_no_product_for_is_refused(creem_stack: CreemStack) -> None:
    account = await sign_up(creem_stack.stack.gateway)
    status, answer = await top_up(creem_stack, account, "15")
    assert status == 422, answer
    assert (await creem_stack.control("/_mock/creem/events"))["events"] == []


# -- the provider alone against the mock ----------------------------------------------


@pytest.fixture
async def hooks(aiohttp_server: AiohttpServer) -> tuple[Receiver, TestServer]:
    receiver = Receiver()
    return receiver, await aiohttp_server(receiver.app())


@pytest.fixture
async def mock_alone(
    aiohttp_server: AiohttpServer, hooks: tuple[Receiver, TestServer]
) -> TestServer:
    _, server = hooks
    return await aiohttp_server(
        create_mock_payments(
            MockSettings(
                creem_webhook=Endpoint(
                    url=str(server.make_url("/hook")), secret=DEV_CREEM_WEBHOOK_SECRET
                ),
                retry_delays=(0.05,),
            )
        )
    )


def checkout_request(amount: str) -> CheckoutRequest:
    order_id = uuid.uuid4()
    return CheckoutRequest(
        order_id=order_id,
        user_id=uuid.uuid4(),
        amount=Decimal(amount),
        amount_minor=int(Decimal(amount) * 100),
        currency="USD",
        success_url=f"https://tollgate.example/billing/topup/result?order={order_id}",
        cancel_url="https://tollgate.example/billing",
        idempotency_key=str(order_id),
    )


async def test_the_provider_against_the_mock(
    mock_alone: TestServer, hooks: tuple[Receiver, TestServer]
) -> None:
    receiver, _ = hooks
    provider = CreemProvider(creem_settings(mock_alone))
    try:
        request = checkout_request("50")
        checkout = await provider.create_checkout(request)
        assert (await provider.fetch_payment(checkout.provider_payment_id)).status is (
            PaymentStatus.PENDING
        )
        with pytest.raises(ProviderRefused, match="top-ups of 5, 10, 20, 50, 100 only"):
            await provider.create_checkout(checkout_request("7"))

        await press_pay(checkout.checkout_url)
        (paid,) = await receiver.wait_for(1)
        event = provider.parse_webhook(paid.body, paid.headers, 0.0)
        assert (event.kind, event.order_id, event.amount_minor, event.currency) == (
            EventKind.PAID,
            request.order_id,
            5000,
            "USD",
        )
        assert event.provider_payment_id == checkout.provider_payment_id
        assert event.payment_reference is not None
        state = await provider.fetch_payment(checkout.provider_payment_id)
        assert (state.status, state.amount_minor, state.order_id, state.payment_reference) == (
            PaymentStatus.PAID,
            5000,
            request.order_id,
            event.payment_reference,
        )
        # A webhook secret that is not Creem's refuses the very same delivery.
        other = CreemProvider(creem_settings(mock_alone, secret="not-the-secret"))
        with pytest.raises(WebhookRefused, match="does not match"):
            other.parse_webhook(paid.body, paid.headers, 0.0)

        refund = RefundRequest(
            provider_payment_id=checkout.provider_payment_id,
            payment_reference=event.payment_reference,
            amount_minor=2000,
            currency="USD",
            idempotency_key="part",
            reason="asked",
        )
        with pytest.raises(ProviderRefused, match="whole payment"):
            await provider.refund(refund)
        whole = await provider.refund(
            RefundRequest(
                provider_payment_id=checkout.provider_payment_id,
                payment_reference=None,
                amount_minor=5000,
                currency="USD",
                idempotency_key="whole",
                reason="asked",
            )
        )
        assert whole.refund_id.startswith("ref_")
        _, refunded = await receiver.wait_for(2)
        event = provider.parse_webhook(refunded.body, refunded.headers, 0.0)
        # Like Creem's documented example, the refund names its transaction only.
        assert (event.kind, event.refund_amount_minor, event.payment_reference) == (
            EventKind.REFUNDED,
            5000,
            state.payment_reference,
        )
    finally:
        await provider.close()
