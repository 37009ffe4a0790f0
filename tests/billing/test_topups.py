"""Top-ups over the public gateway: options, starting one (what Stripe is asked
to charge equals what the user was shown), refusals, the provider down, and
the caller's orders."""

from __future__ import annotations

import socket
import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.billing.payments import orders
from shared.settings import Common
from tests.accounts import Account, create_key
from tests.billing.payments_stack import PaymentsStack, payments_stack
from tests.conftest import AiohttpClient, AiohttpServer, Stack


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> PaymentsStack:
    return await payments_stack(stack, common, aiohttp_server, aiohttp_client)


def _auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


async def test_options_name_the_enabled_provider_and_bounds(paying: PaymentsStack) -> None:
    account = await paying.user()
    for path in ("/api/billing/topup-options", "/api/billing/topups/options"):
        response = await paying.gateway.get(path, headers=_auth(account))
        assert response.status == 200
        assert await response.json() == {
            "enabled": True,
            "providers": [{"name": "stripe", "amounts": None}],
            "currency": "USD",
            "min": "5.00",
            "max": "1000.00",
            "presets": ["5.00", "10.00", "20.00", "50.00", "100.00"],
        }


async def test_options_say_when_top_ups_are_off(stack: Stack) -> None:
    """The plain test stack enables no provider."""
    from tests.accounts import sign_up

    account = await sign_up(stack.gateway)
    response = await stack.gateway.get("/api/billing/topup-options", headers=_auth(account))
    body = await response.json()
    assert body["enabled"] is False and body["providers"] == []
    refused = await stack.gateway.post(
        "/api/billing/topups", json={"amount": "10", "provider": "stripe"}, headers=_auth(account)
    )
    assert refused.status == 422


async def test_a_top_up_charges_exactly_what_the_order_shows(
    paying: PaymentsStack, db: Any
) -> None:
    account = await paying.user()
    response = await paying.topup(account, "10.50")
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["status"] == "pending"
    assert body["amount"] == "10.50" and body["amount_minor"] == 1050
    assert body["currency"] == "USD" and body["credit"] == "10.50"
    assert body["checkout_url"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    ((key, form),) = paying.stub.calls
    order_id = body["order_id"]
    assert key == f"tollgate-order-{order_id}"
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "1050"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][quantity]"] == "1"
    assert form["client_reference_id"] == order_id
    assert form["metadata[order_id]"] == order_id
    assert form["payment_intent_data[metadata][order_id]"] == order_id
    assert form["success_url"].endswith(f"/billing/topup/result?order={order_id}&outcome=success")
    assert form["cancel_url"].endswith(f"/billing/topup/result?order={order_id}&outcome=cancel")
    assert int(form["expires_at"]) > 0
    stored = await orders.get(db, uuid.UUID(order_id))
    assert stored is not None
    assert stored.amount == Decimal("10.50") and stored.amount_minor == 1050
    assert stored.provider_payment_id == body["provider_payment_id"]
    assert stored.user_id == uuid.UUID(account.id)
    # Nothing credited before the provider says paid.
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"amount": 10, "provider": "stripe"}, "not a number"),
        ({"amount": "4.99", "provider": "stripe"}, "from 5.00 to 1000.00"),
        ({"amount": "1000.01", "provider": "stripe"}, "from 5.00 to 1000.00"),
        ({"amount": "10.005", "provider": "stripe"}, "at most 2 decimal places"),
        ({"amount": "-10", "provider": "stripe"}, "positive"),
        ({"amount": "1e3", "provider": "stripe"}, "positive"),
        ({"amount": "10", "provider": "creem"}, "not an enabled provider"),
        ({"amount": "10", "provider": "stripe", "currency": "EUR"}, "USD only"),
        ({"amount": "10", "provider": "stripe", "user_id": "x"}, "unknown field"),
        ({"provider": "stripe"}, "amount: required"),
    ],
)
async def test_bad_top_ups_are_refused_before_any_order(
    paying: PaymentsStack, db: Any, body: dict[str, Any], problem: str
) -> None:
    account = await paying.user()
    response = await paying.gateway.post("/api/billing/topups", json=body, headers=_auth(account))
    assert response.status == 422
    details = " ".join((await response.json())["error"]["details"])
    assert problem in details
    assert await db.fetchval("SELECT count(*) FROM billing.orders") == 0
    assert paying.stub.calls == []


async def test_an_api_key_cannot_start_a_top_up(paying: PaymentsStack) -> None:
    account = await paying.user()
    key = await create_key(paying.stack.gateway, account)
    response = await paying.gateway.post(
        "/api/billing/topups",
        json={"amount": "10", "provider": "stripe"},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert response.status == 403


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("down", ["unreachable", "answers_500"])
async def test_with_the_provider_down_the_order_fails_and_nothing_is_credited(
    stack: Stack,
    common: Common,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    db: Any,
    down: str,
) -> None:
    base = f"http://127.0.0.1:{_closed_port()}" if down == "unreachable" else None
    paying = await payments_stack(stack, common, aiohttp_server, aiohttp_client, api_base=base)
    paying.stub.failing = True
    account = await paying.user()
    response = await paying.topup(account, "20")
    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "service_unavailable"
    assert "nothing was charged" in error["message"]
    rows = await db.fetch("SELECT status, failure FROM billing.orders")
    assert [r["status"] for r in rows] == ["failed"]
    assert "provider unavailable" in rows[0]["failure"]
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0
    listed = await (await paying.gateway.get("/api/billing/orders", headers=_auth(account))).json()
    assert [o["status"] for o in listed["data"]] == ["failed"]


async def test_orders_are_listed_newest_first_and_only_ones_own(paying: PaymentsStack) -> None:
    alice, bob = await paying.user(), await paying.user()
    made = []
    for amount in ("5", "6", "7"):
        response = await paying.topup(alice, amount)
        made.append((await response.json())["order_id"])
    bobs = (await (await paying.topup(bob, "8")).json())["order_id"]
    first = await (
        await paying.gateway.get("/api/billing/orders?limit=2", headers=_auth(alice))
    ).json()
    assert [o["id"] for o in first["data"]] == made[::-1][:2]
    assert first["next_before"] == made[1]
    second = await (
        await paying.gateway.get(
            f"/api/billing/orders?limit=2&before={first['next_before']}", headers=_auth(alice)
        )
    ).json()
    assert [o["id"] for o in second["data"]] == [made[0]]
    assert second["next_before"] is None
    one = await paying.gateway.get(f"/api/billing/orders/{made[0]}", headers=_auth(alice))
    assert one.status == 200 and (await one.json())["amount"] == "5.00"
    # Someone else's order is not found, as a missing one; a bad cursor is 422.
    for path in (
        f"/api/billing/orders/{bobs}",
        f"/api/billing/orders/{uuid.uuid4()}",
        "/api/billing/orders/not-an-id",
    ):
        assert (await paying.gateway.get(path, headers=_auth(alice))).status == 404
    bad = await paying.gateway.get(f"/api/billing/orders?before={bobs}", headers=_auth(alice))
    assert bad.status == 422
