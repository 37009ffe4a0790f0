"""Prices over HTTP: versions added never edited, decimal strings, admin only,
and the gateway's feed with its invalidation notice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.billing.price_admin import PRICES_CHANGED
from tests.accounts import sign_up
from tests.billing.conftest import EPOCH, Billing, add_price, make_admin, price
from tests.conftest import Stack

RATES = {"input": "3", "output": "15", "cache_read": "0.30", "cache_write": "3.75"}


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def test_an_admin_sets_and_reads_a_price_through_the_gateway(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    put = await stack.gateway.put(
        "/api/admin/prices/claude-sonnet-4", json=RATES, headers=admin.headers
    )
    assert put.status == 201, await put.text()
    version = await put.json()
    assert version["input"] == "3.00" and version["cache_read"] == "0.30"
    assert version["web_search"] == "0.00" and version["max_output_tokens"] == 8192
    got = await stack.gateway.get("/api/admin/prices/claude-sonnet-4", headers=admin.headers)
    body = await got.json()
    assert body["current"] == version and body["history"] == [version]
    user = await sign_up(stack.gateway)
    for method in ("GET", "PUT"):
        refused = await stack.gateway.request(
            method, "/api/admin/prices/claude-sonnet-4", json=RATES, headers=user.headers
        )
        assert refused.status == 403


async def test_billing_checks_the_admin_role_itself(billing: Billing) -> None:
    for method in ("GET", "PUT"):
        as_user = await billing.request(
            method, "/api/admin/prices/m", user_id=uuid.uuid4(), json=RATES
        )
        assert as_user.status == 403


async def test_versions_accumulate_and_the_current_one_is_in_force_now(
    billing: Billing, db: Any
) -> None:
    now = await billing.as_admin("PUT", "/api/admin/prices/gpt-x", json=RATES)
    later = await billing.as_admin(
        "PUT",
        "/api/admin/prices/gpt-x",
        json={
            **RATES,
            "input": "2.5",
            "web_search": "10",
            "max_output_tokens": 32000,
            "effective_from": _in(7),
        },
    )
    assert now.status == later.status == 201
    body = await (await billing.as_admin("GET", "/api/admin/prices/gpt-x")).json()
    assert body["current"] == await now.json()
    assert body["history"] == [await later.json(), await now.json()]  # newest first
    assert body["history"][0]["max_output_tokens"] == 32000
    assert body["history"][0]["web_search"] == "10.00"
    assert await db.fetchval("SELECT count(*) FROM billing.prices") == 2


async def test_a_version_at_an_existing_time_is_a_conflict(billing: Billing) -> None:
    when = _in(1)
    first = await billing.as_admin(
        "PUT", "/api/admin/prices/m", json={**RATES, "effective_from": when}
    )
    again = await billing.as_admin(
        "PUT", "/api/admin/prices/m", json={**RATES, "input": "9", "effective_from": when}
    )
    assert first.status == 201 and again.status == 409


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"input": 3}, "not a JSON number"),
        ({"output": 1.5}, "not a JSON number"),
        ({"cache_read": "-0.1"}, "decimal string"),
        ({"cache_write": None}, "cache_write: required"),
        ({"input": "0.0000000001"}, "9 decimal places"),
        ({"input": "123456789012"}, "digits before"),
        ({"web_search": "ten"}, "decimal string"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"max_output_tokens": "8192"}, "max_output_tokens"),
        ({"effective_from": "2020-01-01T00:00:00Z"}, "must not be in the past"),
        ({"effective_from": "soon"}, "effective_from"),
        ({"currency": "EUR"}, "currency: unknown field"),
    ],
)
async def test_bad_prices_are_refused_with_reasons(
    billing: Billing, db: Any, change: dict[str, Any], complaint: str
) -> None:
    response = await billing.as_admin("PUT", "/api/admin/prices/m", json={**RATES, **change})
    assert response.status == 422
    details = (await response.json())["error"]["details"]
    assert any(complaint in line for line in details), details
    assert await db.fetchval("SELECT count(*) FROM billing.prices") == 0


async def test_unknown_models_and_odd_names_are_not_found(billing: Billing) -> None:
    assert (await billing.as_admin("GET", "/api/admin/prices/nothing-here")).status == 404
    assert (await billing.as_admin("GET", "/api/admin/prices/%20bad")).status == 404
    slashed = await billing.as_admin("PUT", "/api/admin/prices/meta/llama-3", json=RATES)
    assert slashed.status == 201 and (await slashed.json())["model"] == "meta/llama-3"


async def test_a_new_price_is_announced_to_every_gateway(
    billing: Billing, redis: aioredis.Redis
) -> None:
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(PRICES_CHANGED)
        await pubsub.get_message(timeout=1)  # the subscription confirmation
        assert (await billing.as_admin("PUT", "/api/admin/prices/m", json=RATES)).status == 201
        message = None
        for _ in range(20):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                break
            await asyncio.sleep(0.05)
    assert message is not None and message["data"] == b"m"


async def test_the_gateway_feed_has_current_and_future_versions_only(
    billing: Billing, db: Any
) -> None:
    await add_price(db, price("old", EPOCH, input="1"))
    await add_price(db, price("old", EPOCH + timedelta(days=1), input="2"))
    await add_price(db, price("old", datetime.now(UTC) + timedelta(days=3), input="4"))
    await add_price(db, price("only-future", datetime.now(UTC) + timedelta(days=3)))
    response = await billing.request("GET", "/internal/prices")
    assert response.status == 200
    prices = (await response.json())["prices"]
    assert [(p["model"], p["input"]) for p in prices] == [
        ("old", "2.00"),
        ("old", "4.00"),
        ("only-future", "1.00"),
    ]
    assert set(prices[0]) == {
        "model",
        "effective_from",
        "input",
        "output",
        "cache_read",
        "cache_write",
        "web_search",
        "max_output_tokens",
    }
    no_token = await billing.client.get("/internal/prices")
    assert no_token.status == 401
