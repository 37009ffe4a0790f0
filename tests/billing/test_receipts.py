"""Receipts: a gapless number per paid order (however many are credited at
once, and none for an order that is not), and the receipt as JSON and
printable HTML, showing later refunds; the owner's alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.settings import Common
from tests.accounts import Account
from tests.billing.payments_stack import PaymentsStack, payments_stack, session_event, signed
from tests.billing.test_refunds_disputes import _charge_refunded
from tests.conftest import AiohttpClient, AiohttpServer, Stack


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> PaymentsStack:
    return await payments_stack(stack, common, aiohttp_server, aiohttp_client)


def _auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


async def _order(paying: PaymentsStack, account: Account) -> dict[str, Any]:
    response = await paying.topup(account, "10.50")
    assert response.status == 201
    order: dict[str, Any] = await response.json()
    return order


async def test_receipt_numbers_are_gapless_under_concurrency(
    paying: PaymentsStack, db: Any
) -> None:
    accounts = [await paying.user() for _ in range(3)]
    made = [await _order(paying, accounts[i % 3]) for i in range(6)]
    events = [
        session_event(order["order_id"], session_id=order["provider_payment_id"]) for order in made
    ]
    # One order's payment does not match (an amount too low): no number for it.
    events.append(session_event((await _order(paying, accounts[0]))["order_id"], amount_minor=1))
    await asyncio.gather(*(paying.webhook(*signed(e)) for e in events for _ in range(2)))
    numbers = await db.fetch(
        "SELECT receipt_number, status FROM billing.orders ORDER BY receipt_number"
    )
    paid = [r["receipt_number"] for r in numbers if r["status"] == "paid"]
    assert len(paid) == 6
    assert paid == list(range(paid[0], paid[0] + 6))
    assert [r["receipt_number"] for r in numbers if r["status"] != "paid"] == [None]
    assert await db.fetchval("SELECT last FROM billing.receipt_counter") == paid[-1]


async def test_the_receipt_as_json_and_html_with_a_later_refund(
    paying: PaymentsStack, db: Any
) -> None:
    account, other = await paying.user(), await paying.user()
    order = await _order(paying, account)
    path = f"/api/billing/orders/{order['order_id']}/receipt"
    assert (await paying.gateway.get(path, headers=_auth(account))).status == 404  # not paid
    intent = "pi_" + uuid.uuid4().hex
    paid = session_event(
        order["order_id"], session_id=order["provider_payment_id"], payment_intent=intent
    )
    assert (await paying.webhook(*signed(paid))).status == 200
    listed = await (await paying.gateway.get("/api/billing/orders", headers=_auth(account))).json()
    assert listed["data"][0]["receipt_url"] == path
    receipt = await (await paying.gateway.get(path, headers=_auth(account))).json()
    assert receipt["amount"] == "10.50" and receipt["credit"] == "10.50"
    assert receipt["currency"] == "USD" and receipt["provider"] == "stripe"
    assert receipt["provider_payment_id"] == order["provider_payment_id"]
    assert receipt["payment_reference"] == intent
    assert receipt["adjustments"] == [] and receipt["refunded"] == "0.00"
    number = receipt["receipt_number"]
    assert isinstance(number, int) and number > 0
    await paying.webhook(*signed(_charge_refunded(intent, 300)))
    later = await (await paying.gateway.get(path, headers=_auth(account))).json()
    assert later["receipt_number"] == number
    assert later["status"] == "partially_refunded" and later["refunded"] == "3.00"
    assert [(a["kind"], a["amount"]) for a in later["adjustments"]] == [("refund", "3.00")]
    page = await paying.gateway.get(
        path, headers={**_auth(account), "Accept": "text/html,application/xhtml+xml"}
    )
    assert page.status == 200 and page.content_type == "text/html"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    text = await page.text()
    assert f"Receipt {number}" in text and "10.50 USD" in text
    assert "Refund" in text and "-3.00 USD" in text and "<script" not in text
    assert (await paying.gateway.get(path + "?format=html", headers=_auth(account))).status == 200
    # Someone else's receipt is not found, as a missing one.
    assert (await paying.gateway.get(path, headers=_auth(other))).status == 404
    missing = f"/api/billing/orders/{uuid.uuid4()}/receipt"
    assert (await paying.gateway.get(missing, headers=_auth(account))).status == 404
