"""Balances and statements: decimal strings, open holds, the caller's own ledger only."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from services.billing.charging import charge_batch
from shared.holds import Holds, Snapshot
from shared.usage_event import read
from tests.accounts import create_key, sign_up
from tests.billing.conftest import EPOCH, Billing, add_price, fund, price, usage_event
from tests.conftest import Stack


async def test_a_new_user_has_zero_of_everything(billing: Billing) -> None:
    response = await billing.request("GET", "/api/billing/balance", user_id=uuid.uuid4())
    assert response.status == 200
    assert await response.json() == {
        "balance": "0.00",
        "held": "0.00",
        "available": "0.00",
        "currency": "USD",
    }
    ledger = await billing.request("GET", "/api/billing/ledger", user_id=uuid.uuid4())
    assert await ledger.json() == {"data": [], "next_before": None}


async def test_open_holds_are_held_and_not_available(
    billing: Billing, pool: Any, redis: aioredis.Redis
) -> None:
    user = uuid.uuid4()
    await fund(pool, user, "10")
    holds = Holds(redis)
    await holds.install(user, Snapshot(balance=Decimal(10), floor=Decimal(0), version=1))
    now_ms = int(time.time() * 1000)
    await holds.place(user, "hold-1", Decimal("1.25"), now_ms)
    await holds.place(user, "hold-2", Decimal("0.000000001"), now_ms)
    body = await (await billing.request("GET", "/api/billing/balance", user_id=user)).json()
    assert body == {
        "balance": "10.00",
        "held": "1.250000001",
        "available": "8.749999999",
        "currency": "USD",
    }


async def test_the_statement_lists_entries_newest_first_in_pages(
    billing: Billing, pool: Any
) -> None:
    await add_price(pool, price())
    user = uuid.uuid4()
    await fund(pool, user, "2")
    event = usage_event(user_id=user, ts=EPOCH + timedelta(days=1), output_tokens=250_000)
    await charge_batch(pool, [read(event)])
    await fund(pool, user, "0.125")
    first = await (await billing.request("GET", "/api/billing/ledger?limit=2", user_id=user)).json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in first["data"]] == [
        ("top_up", "0.125", "1.625"),
        ("usage_charge", "-0.50", "1.50"),
    ]
    assert first["data"][1]["event_id"] == event["event_id"]
    assert first["data"][0]["reason"] == "test funds"
    assert first["next_before"] == first["data"][1]["id"]
    rest = await (
        await billing.request(
            "GET", f"/api/billing/ledger?limit=2&before={first['next_before']}", user_id=user
        )
    ).json()
    assert [(e["kind"], e["amount"]) for e in rest["data"]] == [("top_up", "2.00")]
    assert rest["next_before"] is None
    assert set(rest["data"][0]) == {
        "id",
        "transaction_id",
        "kind",
        "amount",
        "balance_after",
        "event_id",
        "reason",
        "price_multiplier",
        "created_at",
    }
    assert rest["data"][0]["price_multiplier"] is None  # a top-up has none


async def test_bad_page_parameters_are_refused(billing: Billing) -> None:
    for query in ("limit=0", "limit=201", "limit=ten", "before=-1", "before=²", "limit=1e2"):
        response = await billing.request(
            "GET", f"/api/billing/ledger?{query}", user_id=uuid.uuid4()
        )
        assert response.status == 422, query


async def test_the_caller_needs_to_be_a_user(billing: Billing) -> None:
    for path in ("/api/billing/balance", "/api/billing/ledger"):
        assert (await billing.request("GET", path)).status == 401


async def test_a_user_only_ever_sees_their_own_ledger(stack: Stack, pool: Any) -> None:
    alice, bob = await sign_up(stack.gateway), await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(alice.id), "7")
    for query in ("", f"?user_id={alice.id}", "?before=999999999"):
        response = await stack.gateway.get(f"/api/billing/ledger{query}", headers=bob.headers)
        assert response.status == 200
        assert (await response.json())["data"] == []
    balance = await (await stack.gateway.get("/api/billing/balance", headers=bob.headers)).json()
    assert balance["balance"] == "0.00"
    mine = await (await stack.gateway.get("/api/billing/ledger", headers=alice.headers)).json()
    assert [e["amount"] for e in mine["data"]] == ["7.00"]


async def test_an_api_key_may_read_the_balance(stack: Stack, pool: Any) -> None:
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "4.5")
    key = await create_key(stack.gateway, user)
    response = await stack.gateway.get("/api/billing/balance", headers={"x-api-key": key["key"]})
    assert response.status == 200 and (await response.json())["balance"] == "4.50"


async def test_the_internal_balance_has_what_a_hold_snapshot_needs(
    billing: Billing, pool: Any
) -> None:
    user = uuid.uuid4()
    await fund(pool, user, "3")
    body = await (await billing.request("GET", f"/internal/balances/{user}")).json()
    assert body == {"balance": "3.00", "floor": "0.00", "version": 1, "currency": "USD"}
    unknown = await (await billing.request("GET", f"/internal/balances/{uuid.uuid4()}")).json()
    assert unknown == {"balance": "0.00", "floor": "0.00", "version": 0, "currency": "USD"}
    assert (await billing.request("GET", "/internal/balances/nobody")).status == 404
