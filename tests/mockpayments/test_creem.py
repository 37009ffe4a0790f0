"""The mock's Creem subset over plain HTTP, as Creem's API reference documents
it: checkouts created with x-api-key and fetched by checkout_id, errors in
Creem's shape, the hosted page's signed redirect, webhooks signed with the
documented HMAC-SHA256 hex in `creem-signature`, refunds and disputes."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.mockpayments.settings import DEV_CREEM_API_KEY, dev_product_id
from tests.mockpayments.conftest import CREEM_SECRET
from tests.mockpayments.receiver import Received, Receiver

Client = TestClient[web.Request, web.Application]
KEY = {"x-api-key": DEV_CREEM_API_KEY}
PRODUCT = dev_product_id("10")


def verified(delivery: Received) -> dict[str, Any]:
    """Creem's documented check: HMAC-SHA256 of the raw body with the webhook secret, hex."""
    expected = hmac.new(CREEM_SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivery.headers["creem-signature"], expected)
    event: dict[str, Any] = orjson.loads(delivery.body)
    return event


async def create(mock: Client, **fields: Any) -> dict[str, Any]:
    body = {
        "product_id": PRODUCT,
        "request_id": "order-7",
        "metadata": {"order_id": "order-7"},
        "success_url": "http://127.0.0.1:9/billing/topup/result?order=order-7",
        **fields,
    }
    answer = await mock.post("/creem/v1/checkouts", json=body, headers=KEY)
    assert answer.status == 200, await answer.text()
    checkout: dict[str, Any] = await answer.json()
    return checkout


async def test_a_checkout_is_created_and_fetched(mock: Client) -> None:
    checkout = await create(mock)
    assert checkout["id"].startswith("ch_") and checkout["object"] == "checkout"
    assert (checkout["status"], checkout["request_id"]) == ("pending", "order-7")
    assert checkout["product"]["id"] == PRODUCT
    assert (checkout["product"]["price"], checkout["product"]["currency"]) == (1000, "USD")
    assert checkout["metadata"] == {"order_id": "order-7"}
    assert checkout["checkout_url"].endswith(f"/creem/pay/{checkout['id']}")
    fetched = await mock.get(
        "/creem/v1/checkouts", params={"checkout_id": checkout["id"]}, headers=KEY
    )
    assert (await fetched.json())["id"] == checkout["id"]


async def test_errors_come_in_creems_shape(mock: Client) -> None:
    no_key = await mock.post("/creem/v1/checkouts", json={"product_id": PRODUCT})
    assert no_key.status == 403
    body = await no_key.json()
    assert body["status"] == 403 and body["error"] == "Forbidden" and "trace_id" in body
    unknown = await mock.post("/creem/v1/checkouts", json={"product_id": "prod_x"}, headers=KEY)
    assert unknown.status == 404 and (await unknown.json())["error"] == "Not Found"
    bad = await mock.post("/creem/v1/checkouts", json={"request_id": "x"}, headers=KEY)
    assert bad.status == 400 and isinstance((await bad.json())["message"], list)
    missing = await mock.get("/creem/v1/checkouts", params={"checkout_id": "ch_x"}, headers=KEY)
    assert missing.status == 404


async def test_paying_on_the_hosted_page_redirects_signed_and_sends_checkout_completed(
    mock: Client, browser: aiohttp.ClientSession, receiver: tuple[Receiver, TestServer]
) -> None:
    checkout = await create(mock)
    page = await browser.get(checkout["checkout_url"])
    assert page.status == 200 and "10.00 USD" in await page.text()
    paid = await browser.post(
        checkout["checkout_url"], data={"action": "pay"}, allow_redirects=False
    )
    assert paid.status == 303
    target = urlsplit(paid.headers["Location"])
    assert target.path == "/billing/topup/result"
    params = dict(parse_qsl(target.query))
    assert params["order"] == "order-7" and params["checkout_id"] == checkout["id"]
    signed = {k: v for k, v in params.items() if k not in {"signature", "order"}}
    text = "&".join(f"{k}={v}" for k, v in sorted(signed.items()))
    expected = hmac.new(DEV_CREEM_API_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()
    assert params["signature"] == expected

    hooks, _ = receiver
    (delivery,) = await hooks.wait_for(1)
    event = verified(delivery)
    assert event["eventType"] == "checkout.completed" and event["id"].startswith("evt_")
    completed = event["object"]
    assert (completed["id"], completed["status"], completed["request_id"]) == (
        checkout["id"],
        "completed",
        "order-7",
    )
    assert completed["order"]["amount"] == 1000 and completed["order"]["currency"] == "USD"
    assert completed["order"]["status"] == "paid"
    assert completed["metadata"] == {"order_id": "order-7"}
    fetched = await mock.get(
        "/creem/v1/checkouts", params={"checkout_id": checkout["id"]}, headers=KEY
    )
    assert (await fetched.json())["order"]["transaction"] == completed["order"]["transaction"]


async def test_cancel_pays_nothing(mock: Client, browser: aiohttp.ClientSession) -> None:
    checkout = await create(mock)
    answer = await browser.post(checkout["checkout_url"], data={"action": "cancel"})
    assert answer.status == 200 and "Nothing was paid" in await answer.text()
    fetched = await mock.get(
        "/creem/v1/checkouts", params={"checkout_id": checkout["id"]}, headers=KEY
    )
    assert (await fetched.json())["status"] == "pending"


async def test_refunds_and_disputes_send_their_events(
    mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    one, two = await create(mock), await create(mock, request_id="order-8")
    await mock.post(f"/_mock/creem/checkouts/{one['id']}/pay")
    await mock.post(f"/_mock/creem/checkouts/{two['id']}/pay")
    part = await mock.post("/_mock/creem/refunds", json={"payment": one["id"], "amount": 400})
    assert (await part.json())["refund_amount"] == 400
    fetched = await mock.get("/creem/v1/checkouts", params={"checkout_id": one["id"]}, headers=KEY)
    transaction = (await fetched.json())["order"]["transaction"]
    full = await mock.post("/creem/v1/refunds", json={"transaction_id": transaction}, headers=KEY)
    assert full.status == 200 and (await full.json())["refund_amount"] == 600
    again = await mock.post("/creem/v1/refunds", json={"transaction_id": transaction}, headers=KEY)
    assert again.status == 400
    await mock.post("/_mock/creem/disputes", json={"payment": two["id"]})

    hooks, _ = receiver
    events = [verified(d) for d in await hooks.wait_for(5)]
    assert [e["eventType"] for e in events] == [
        "checkout.completed",
        "checkout.completed",
        "refund.created",
        "refund.created",
        "dispute.created",
    ]
    refunds = [e["object"] for e in events[2:4]]
    assert [(r["refund_amount"], r["refund_currency"]) for r in refunds] == [
        (400, "USD"),
        (600, "USD"),
    ]
    assert [r["transaction"]["status"] for r in refunds] == ["partialRefund", "refunded"]
    assert {r["transaction"]["id"] for r in refunds} == {transaction}
    dispute = events[4]["object"]
    assert (dispute["amount"], dispute["currency"]) == (1000, "USD")
    assert dispute["transaction"]["id"] == events[1]["object"]["order"]["transaction"]


async def test_creem_webhooks_take_the_same_faults(
    mock: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    await mock.post("/_mock/creem/webhooks/faults", json={"copies": 3})
    await mock.post("/_mock/creem/webhooks/faults", json={"bad_signature": True})
    await mock.post("/_mock/creem/webhooks/config", json={"retry_delays": []})
    one, two = await create(mock), await create(mock)
    await mock.post(f"/_mock/creem/checkouts/{one['id']}/pay")
    await mock.post(f"/_mock/creem/checkouts/{two['id']}/pay")
    hooks, _ = receiver
    deliveries = await hooks.wait_for(4)
    assert len({verified(d)["id"] for d in deliveries[:3]}) == 1
    forged = deliveries[3]
    good = hmac.new(CREEM_SECRET.encode(), forged.body, hashlib.sha256).hexdigest()
    assert forged.headers["creem-signature"] != good
