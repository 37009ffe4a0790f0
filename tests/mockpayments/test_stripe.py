"""The mock's Stripe subset, driven by the official `stripe` package (its async
client, the API base pointed at the mock) and checked against Stripe's
documented behaviour: sessions created, retrieved and expired, idempotency
keys, errors in Stripe's shape, events listed, and webhooks that Stripe's own
verifier (`stripe.Webhook.construct_event`) accepts."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.mockpayments.conftest import STRIPE_SECRET, session_params
from tests.mockpayments.receiver import Receiver

Client = TestClient[web.Request, web.Application]
SECRET = STRIPE_SECRET


def verified(body: bytes, headers: dict[str, str]) -> stripe.Event:
    event: stripe.Event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    return event


async def test_the_official_client_creates_retrieves_and_expires_a_session(
    client: stripe.StripeClient, receiver: tuple[Receiver, TestServer]
) -> None:
    created = await client.v1.checkout.sessions.create_async(params=session_params())
    assert created.id.startswith("cs_test_")
    assert created.object == "checkout.session"
    assert (created.status, created.payment_status) == ("open", "unpaid")
    assert (created.amount_total, created.currency) == (1000, "usd")
    assert created.client_reference_id == "order-1"
    assert created.metadata is not None and created.metadata.to_dict() == {"order_id": "order-1"}
    assert created.url is not None and created.url.endswith(f"/stripe/pay/{created.id}")

    fetched = await client.v1.checkout.sessions.retrieve_async(
        created.id, params={"expand": ["line_items"]}
    )
    assert fetched.id == created.id
    assert fetched.line_items is not None
    item = fetched.line_items.data[0]
    assert (item.amount_total, item.quantity, item.description) == (
        1000,
        1,
        "Tollgate credit 10.00 USD",
    )

    expired = await client.v1.checkout.sessions.expire_async(created.id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError, match="can be expired"):
        await client.v1.checkout.sessions.expire_async(created.id)

    hooks, _ = receiver
    (delivery,) = await hooks.wait_for(1)
    event = verified(delivery.body, delivery.headers)
    assert event.type == "checkout.session.expired"
    assert event.data.object["id"] == created.id


async def test_an_idempotency_key_returns_the_same_session_and_refuses_other_parameters(
    client: stripe.StripeClient,
) -> None:
    options: Any = {"idempotency_key": "order-1-checkout"}
    first = await client.v1.checkout.sessions.create_async(params=session_params(), options=options)
    again = await client.v1.checkout.sessions.create_async(params=session_params(), options=options)
    assert again.id == first.id and again.url == first.url
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.checkout.sessions.create_async(
            params=session_params(client_reference_id="order-2"), options=options
        )
    other = await client.v1.checkout.sessions.create_async(params=session_params())
    assert other.id != first.id


async def test_errors_come_in_stripes_shape(client: stripe.StripeClient, mock: Client) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.checkout.sessions.retrieve_async("cs_test_nothing")
    assert missing.value.code == "resource_missing" and missing.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: amount"):
        await client.v1.checkout.sessions.create_async(params=session_params(amount=5))
    with pytest.raises(stripe.InvalidRequestError, match="expires_at"):
        await client.v1.checkout.sessions.create_async(
            params=session_params(expires_at=int(time.time()) + 60)
        )
    http = stripe.AIOHTTPClient()
    wrong = stripe.StripeClient(
        "sk_test_wrong_key_1234",
        http_client=http,
        base_addresses={"api": str(mock.make_url("/stripe"))},
    )
    with pytest.raises(stripe.AuthenticationError):
        await wrong.v1.checkout.sessions.retrieve_async("cs_test_x")
    await http.close_async()  # type: ignore[no-untyped-call]
    raw = await mock.post("/stripe/v1/checkout/sessions", data={"mode": "payment"})
    assert raw.status == 401
    body = await raw.json()
    assert body["error"]["type"] == "invalid_request_error"


async def test_paying_on_the_hosted_page_redirects_and_sends_a_verified_completed_event(
    client: stripe.StripeClient,
    browser: aiohttp.ClientSession,
    receiver: tuple[Receiver, TestServer],
) -> None:
    session = await client.v1.checkout.sessions.create_async(
        params=session_params(payment_intent_data={"metadata": {"order_id": "order-1"}})
    )
    assert session.url is not None
    page = await browser.get(session.url)
    text = await page.text()
    assert page.status == 200 and "10.00 USD" in text and 'value="pay"' in text
    paid = await browser.post(session.url, data={"action": "pay"}, allow_redirects=False)
    assert paid.status == 303
    assert paid.headers["Location"] == (
        f"http://127.0.0.1:9/billing/topup/result?session={session.id}"
    )

    hooks, _ = receiver
    (delivery,) = await hooks.wait_for(1)
    event = verified(delivery.body, delivery.headers)
    assert event.type == "checkout.session.completed"
    completed = event.data.object
    assert completed["payment_status"] == "paid" and completed["status"] == "complete"
    assert completed["client_reference_id"] == "order-1"
    assert completed["amount_total"] == 1000

    fetched = await client.v1.checkout.sessions.retrieve_async(
        session.id, params={"expand": ["payment_intent"]}
    )
    intent: Any = fetched.payment_intent
    assert intent.status == "succeeded" and intent.metadata.to_dict() == {"order_id": "order-1"}
    charge = await client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount, charge.paid, charge.payment_intent) == (1000, True, intent.id)
    # A second payment of the same session is refused; the page says it is complete.
    again = await browser.post(session.url, data={"action": "pay"}, allow_redirects=False)
    assert again.status == 410


async def test_cancel_goes_back_to_the_cancel_url_and_leaves_the_session_open(
    client: stripe.StripeClient, browser: aiohttp.ClientSession
) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())
    assert session.url is not None
    answer = await browser.post(session.url, data={"action": "cancel"}, allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"] == "http://127.0.0.1:9/billing/topup/result?cancelled=1"
    fetched = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert fetched.status == "open"


async def test_refunds_full_and_partial_and_disputes_send_their_events(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())
    await mock.post(f"/_mock/stripe/sessions/{session.id}/pay")
    fetched = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert isinstance(fetched.payment_intent, str)

    part = await client.v1.refunds.create_async(
        params={
            "payment_intent": fetched.payment_intent,
            "amount": 300,
            "reason": "requested_by_customer",
        },
        options={"idempotency_key": "refund-1"},
    )
    same = await client.v1.refunds.create_async(
        params={
            "payment_intent": fetched.payment_intent,
            "amount": 300,
            "reason": "requested_by_customer",
        },
        options={"idempotency_key": "refund-1"},
    )
    assert same.id == part.id and (part.amount, part.status) == (300, "succeeded")
    with pytest.raises(stripe.InvalidRequestError, match="greater than"):
        await client.v1.refunds.create_async(
            params={"payment_intent": fetched.payment_intent, "amount": 800}
        )
    rest = await client.v1.refunds.create_async(params={"payment_intent": fetched.payment_intent})
    assert rest.amount == 700

    dispute = await (await mock.post("/_mock/stripe/disputes", json={"payment": session.id})).json()
    assert dispute["status"] == "needs_response" and dispute["amount"] == 1000
    closed = await mock.post(
        f"/_mock/stripe/disputes/{dispute['id']}/close", json={"outcome": "won"}
    )
    assert (await closed.json())["status"] == "won"

    hooks, _ = receiver
    deliveries = await hooks.wait_for(5)
    events = [verified(d.body, d.headers) for d in deliveries]
    assert [e.type for e in events] == [
        "checkout.session.completed",
        "charge.refunded",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
    ]
    assert [e.data.object["amount_refunded"] for e in events[1:3]] == [300, 1000]
    assert events[2].data.object["refunded"] is True
    assert events[1].data.object["payment_intent"] == fetched.payment_intent
    assert events[3].data.object["payment_intent"] == fetched.payment_intent
    assert events[4].data.object["status"] == "won"


async def test_a_payment_that_settles_later_sends_unpaid_then_the_outcome(
    client: stripe.StripeClient,
    mock: Client,
    browser: aiohttp.ClientSession,
    receiver: tuple[Receiver, TestServer],
) -> None:
    ok = await client.v1.checkout.sessions.create_async(params=session_params())
    bad = await client.v1.checkout.sessions.create_async(params=session_params())
    assert ok.url is not None
    answer = await browser.post(ok.url, data={"action": "pay_later"}, allow_redirects=False)
    assert answer.status == 303
    await mock.post(f"/_mock/stripe/sessions/{bad.id}/pay", json={"later": True})
    await mock.post(f"/_mock/stripe/sessions/{ok.id}/settle", json={"outcome": "succeeded"})
    await mock.post(f"/_mock/stripe/sessions/{bad.id}/settle", json={"outcome": "failed"})
    hooks, _ = receiver
    events = [verified(d.body, d.headers) for d in await hooks.wait_for(4)]
    seen = [(e.type, e.data.object["id"], e.data.object["payment_status"]) for e in events]
    assert seen == [
        ("checkout.session.completed", ok.id, "unpaid"),
        ("checkout.session.completed", bad.id, "unpaid"),
        ("checkout.session.async_payment_succeeded", ok.id, "paid"),
        ("checkout.session.async_payment_failed", bad.id, "unpaid"),
    ]


async def test_events_are_listed_newest_first_and_by_delivery(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    one = await client.v1.checkout.sessions.create_async(params=session_params())
    two = await client.v1.checkout.sessions.create_async(params=session_params())
    await mock.post("/_mock/stripe/webhooks/faults", json={"drop": True})
    await mock.post(f"/_mock/stripe/sessions/{one.id}/pay")  # lost
    await mock.post(f"/_mock/stripe/sessions/{two.id}/pay")
    hooks, _ = receiver
    await hooks.wait_for(1)

    listed = await client.v1.events.list_async(params={"type": "checkout.session.*"})
    assert [e.data.object["id"] for e in listed.data] == [two.id, one.id]
    undelivered = await client.v1.events.list_async(
        params={"delivery_success": False, "types": ["checkout.session.completed"]}
    )
    assert [e.data.object["id"] for e in undelivered.data] == [one.id]
    assert undelivered.data[0].pending_webhooks == 0 or undelivered.data[0].pending_webhooks == 1
    page = await client.v1.events.list_async(params={"limit": 1})
    assert page.has_more is True
    after = await client.v1.events.list_async(
        params={"limit": 1, "starting_after": page.data[0].id}
    )
    assert after.data[0].data.object["id"] == one.id
    since = await client.v1.events.list_async(params={"created": {"gte": int(time.time()) + 60}})
    assert since.data == []
    event = await client.v1.events.retrieve_async(page.data[0].id)
    assert event.type == "checkout.session.completed"


async def test_a_session_past_its_expiry_expires_with_an_event(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())
    await mock.post("/_mock/clock", json={"advance": 3601})
    fetched = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert fetched.status == "expired"
    hooks, _ = receiver
    (delivery,) = await hooks.wait_for(1)
    # Signed at the mock's moved clock: verified with the same time.
    header = delivery.headers["Stripe-Signature"]
    assert int(header.split(",")[0][2:]) >= int(time.time()) + 3600
    payload = orjson.loads(delivery.body)
    assert payload["type"] == "checkout.session.expired"
