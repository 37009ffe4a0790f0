"""The mock's webhook faults, as a test asks for them: copies posted at once,
delay, drop (a lost webhook), a bad signature, hold and release, reverse
order, resend, and retries with backoff until the receiver answers 2xx."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.mockpayments.conftest import STRIPE_SECRET, session_params
from tests.mockpayments.receiver import Received, Receiver

Client = TestClient[web.Request, web.Application]


def event_of(delivery: Received) -> Any:
    return stripe.Webhook.construct_event(
        delivery.body, delivery.headers["Stripe-Signature"], STRIPE_SECRET
    )


async def paid_session(client: stripe.StripeClient, mock: Client) -> str:
    session = await client.v1.checkout.sessions.create_async(params=session_params())
    answer = await mock.post(f"/_mock/stripe/sessions/{session.id}/pay")
    assert answer.status == 200, await answer.text()
    return session.id


async def test_copies_are_posted_at_once_with_the_same_event(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    assert (await mock.post("/_mock/stripe/webhooks/faults", json={"copies": 5})).status == 200
    session_id = await paid_session(client, mock)
    hooks, _ = receiver
    deliveries = await hooks.wait_for(5)
    events = [event_of(d) for d in deliveries]
    assert {e.id for e in events} == {events[0].id}
    assert {d.body for d in deliveries} == {deliveries[0].body}
    assert events[0].data.object["id"] == session_id
    report = await (await mock.get("/_mock/stripe/webhooks")).json()
    (delivery,) = report["deliveries"]
    assert delivery["status"] == "delivered" and len(delivery["attempts"]) == 5


async def test_a_dropped_webhook_is_never_sent_and_can_be_resent(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    await mock.post("/_mock/stripe/webhooks/faults", json={"drop": True})
    await paid_session(client, mock)
    second = await paid_session(client, mock)
    hooks, _ = receiver
    (only,) = await hooks.wait_for(1)
    assert event_of(only).data.object["id"] == second
    report = (await (await mock.get("/_mock/stripe/webhooks")).json())["deliveries"]
    assert [d["status"] for d in report] == ["dropped", "delivered"]
    resent = await mock.post(
        "/_mock/stripe/webhooks/resend", json={"event_id": report[0]["event_id"], "copies": 2}
    )
    assert resent.status == 200
    later = await hooks.wait_for(3)
    assert {event_of(d).id for d in later[1:]} == {report[0]["event_id"]}


async def test_a_bad_signature_fails_stripes_verifier(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    await mock.post("/_mock/stripe/webhooks/config", json={"retry_delays": []})
    await mock.post("/_mock/stripe/webhooks/faults", json={"bad_signature": True})
    await paid_session(client, mock)
    hooks, _ = receiver
    (delivery,) = await hooks.wait_for(1)
    with pytest.raises(stripe.SignatureVerificationError):
        event_of(delivery)
    assert orjson.loads(delivery.body)["type"] == "checkout.session.completed"


async def test_delay_holds_the_first_attempt_back(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    await mock.post("/_mock/stripe/webhooks/faults", json={"delay": 0.5})
    started = time.monotonic()
    first = await paid_session(client, mock)
    second = await paid_session(client, mock)
    hooks, _ = receiver
    deliveries = await hooks.wait_for(2)
    assert [event_of(d).data.object["id"] for d in deliveries] == [second, first]
    assert time.monotonic() - started >= 0.5


async def test_hold_and_release_reorders_events(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    """The completed event held back: the refund's event arrives first."""
    await mock.post("/_mock/stripe/webhooks/faults", json={"hold": True})
    session_id = await paid_session(client, mock)
    await mock.post("/_mock/stripe/refunds", json={"payment": session_id, "amount": 100})
    hooks, _ = receiver
    await hooks.wait_for(1)
    released = await (await mock.post("/_mock/stripe/webhooks/release")).json()
    assert released == {"released": 1}
    deliveries = await hooks.wait_for(2)
    assert [event_of(d).type for d in deliveries] == [
        "charge.refunded",
        "checkout.session.completed",
    ]


async def test_reorder_sends_the_next_events_in_reverse(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    await mock.post("/_mock/stripe/webhooks/reorder", json={"count": 3})
    sessions = [await paid_session(client, mock) for _ in range(3)]
    hooks, _ = receiver
    deliveries = await hooks.wait_for(3)
    assert [event_of(d).data.object["id"] for d in deliveries] == sessions[::-1]


async def test_a_webhook_answered_500_is_retried_until_2xx(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    hooks, _ = receiver
    hooks.statuses = [500, 500]
    await paid_session(client, mock)
    deliveries = await hooks.wait_for(3)
    assert len({event_of(d).id for d in deliveries}) == 1
    report = (await (await mock.get("/_mock/stripe/webhooks")).json())["deliveries"]
    assert [a["status"] for a in report[0]["attempts"]] == [500, 500, 200]
    assert report[0]["status"] == "delivered"
    listed = await client.v1.events.list_async(params={"delivery_success": True})
    assert len(listed.data) == 1


async def test_a_webhook_never_answered_2xx_fails_after_the_retries(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    hooks, _ = receiver
    hooks.statuses = [503, 503, 503]
    session_id = await paid_session(client, mock)
    await hooks.wait_for(3)
    for _ in range(50):
        report = (await (await mock.get("/_mock/stripe/webhooks")).json())["deliveries"]
        if report[0]["status"] == "failed":
            break
        await asyncio.sleep(0.05)
    assert report[0]["status"] == "failed"
    undelivered = await client.v1.events.list_async(params={"delivery_success": False})
    assert [e.data.object["id"] for e in undelivered.data] == [session_id]


async def test_the_controls_refuse_what_they_do_not_know(mock: Client) -> None:
    assert (await mock.post("/_mock/paypal/webhooks/faults", json={})).status == 404
    assert (await mock.post("/_mock/stripe/webhooks/faults", json={"copies": 0})).status == 400
    assert (await mock.post("/_mock/stripe/sessions/cs_x/pay", json={})).status == 404
    answer = await mock.post("/_mock/stripe/webhooks/resend", json={"event_id": "evt_x"})
    assert answer.status == 404


async def test_an_api_fault_answers_an_error_and_does_nothing(
    client: stripe.StripeClient, mock: Client
) -> None:
    await mock.post("/_mock/stripe/api/faults", json={"status": 503})
    with pytest.raises(stripe.APIError) as failed:
        await client.v1.checkout.sessions.create_async(params=session_params())
    assert failed.value.http_status == 503
    assert (await (await mock.get("/_mock/stripe/events")).json())["events"] == []
    created = await client.v1.checkout.sessions.create_async(params=session_params())
    assert created.status == "open"
    await mock.post("/_mock/creem/api/faults", json={"status": 500})
    answer = await mock.post(
        "/creem/v1/checkouts",
        json={"product_id": "prod_tollgate_dev_10"},
        headers={"x-api-key": "creem_test_tollgate_dev"},
    )
    assert answer.status == 500 and (await answer.json())["status"] == 500


async def test_pay_first_sends_the_webhook_before_the_create_call_returns(
    client: stripe.StripeClient, mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    """The completed event lands while the checkout call is still waiting for its answer."""
    hooks, _ = receiver
    await mock.post("/_mock/stripe/api/faults", json={"pay_first": True, "delay": 0.5})
    created = await client.v1.checkout.sessions.create_async(params=session_params())
    assert created.status == "open"  # the answer as it was made, before the payment
    assert len(hooks.received) == 1  # already there when the answer came back
    assert event_of(hooks.received[0]).data.object["id"] == created.id
    items = await client.v1.checkout.sessions.line_items.list_async(created.id)
    assert [i.amount_total for i in items.data] == [1000]
