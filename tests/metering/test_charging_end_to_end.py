"""Metering end to end: holds, usage events, charges, settlement, reconcile.

Every service runs on loopback against real PostgreSQL and Redis, the billing
and usage consumers included; requests go through the gateway with the
official OpenAI SDK or plain HTTP.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

import orjson

from services.cli.reconcile import reconcile
from shared.holds import held_amount
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM
from tests.conftest import Stack
from tests.relay import Relay, relay_for

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 50,
}


async def _settled(stack: Stack, db: Any, count: int) -> None:
    """Wait (up to 15 s) until both consumers have handled `count` events."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        charged = await db.fetchval("SELECT count(*) FROM billing.usage_charges")
        recorded = await db.fetchval("SELECT count(*) FROM usage.records")
        if charged >= count and recorded >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled: {charged} charged, {recorded} recorded of {count}")


async def _balance(relay: Relay) -> dict[str, str]:
    response = await relay.stack.gateway.get(
        "/api/billing/balance", headers={"Authorization": f"Bearer {relay.key}"}
    )
    assert response.status == 200
    body: dict[str, str] = await response.json()
    return body


async def _clean(stack: Stack) -> None:
    common = stack.gateway_settings.common
    violations, notes = await reconcile(common.database_url, common.redis_url)
    assert violations == [], violations
    assert notes == [], notes


async def test_a_request_is_charged_exactly_once_at_the_right_price(stack: Stack, db: Any) -> None:
    relay = await relay_for(stack, funds=Decimal("1.00"))
    response = await stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {relay.key}"}
    )
    assert response.status == 200
    usage = (await response.json())["usage"]
    await _settled(stack, db, 1)
    # gpt-4o-mini: 0.15 USD per million input tokens, 0.60 per million output.
    expected = (
        Decimal(usage["prompt_tokens"]) * Decimal("0.15")
        + Decimal(usage["completion_tokens"]) * Decimal("0.60")
    ) / 1_000_000
    charged = await db.fetchval("SELECT charged FROM billing.usage_charges")
    assert charged == expected
    balance = await _balance(relay)
    assert Decimal(balance["balance"]) == Decimal("1.00") - expected
    assert Decimal(balance["held"]) == 0
    assert Decimal(balance["available"]) == Decimal(balance["balance"])
    await _clean(stack)


async def test_a_clients_own_request_id_never_makes_two_requests_one_charge(
    stack: Stack, db: Any
) -> None:
    relay = await relay_for(stack, funds=Decimal("1.00"))
    headers = {"Authorization": f"Bearer {relay.key}", "X-Request-Id": "same-id-every-time"}
    ids = set()
    for _ in range(3):
        response = await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert response.status == 200
        ids.add(response.headers["X-Request-Id"])
    assert len(ids) == 3 and "same-id-every-time" not in ids
    await _settled(stack, db, 3)
    charged = await db.fetch("SELECT event_id, charged FROM billing.usage_charges")
    assert {row["event_id"] for row in charged} == ids
    balance = await _balance(relay)
    assert Decimal(balance["balance"]) == Decimal("1.00") - sum(row["charged"] for row in charged)
    assert Decimal(balance["held"]) == 0
    await _clean(stack)


async def test_publishing_every_event_again_changes_nothing(
    stack: Stack, db: Any, redis: Any
) -> None:
    relay = await relay_for(stack, funds=Decimal("1.00"))
    for _ in range(5):
        response = await stack.gateway.post(
            "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {relay.key}"}
        )
        assert response.status == 200
    await _settled(stack, db, 5)
    before = await _balance(relay)
    entries = await redis.xrange(USAGE_STREAM)
    assert len(entries) >= 5
    for _, fields in entries:
        await redis.xadd(USAGE_STREAM, {EVENT_FIELD: fields[EVENT_FIELD]})
    await asyncio.sleep(1.5)
    assert await db.fetchval("SELECT count(*) FROM billing.usage_charges") == 5
    assert await db.fetchval("SELECT count(*) FROM usage.records") == 5
    assert await _balance(relay) == before
    await _clean(stack)


async def test_no_more_succeed_than_the_balance_covers(stack: Stack, db: Any, redis: Any) -> None:
    # The worst case of one request (prompt at 4 bytes a token, 50 output
    # tokens) is about 0.00004 USD; fund about ten of them.
    relay = await relay_for(stack, funds=Decimal("0.0004"))
    headers = {"Authorization": f"Bearer {relay.key}"}

    async def one() -> int:
        response = await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=headers)
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(one() for _ in range(200)))
    succeeded = statuses.count(200)
    assert set(statuses) <= {200, 402}, set(statuses)
    assert 0 < succeeded < 200 and statuses.count(402) > 0
    await _settled(stack, db, len(statuses) - statuses.count(402))
    balance = await _balance(relay)
    assert Decimal(balance["balance"]) >= 0
    total = await db.fetchval("SELECT coalesce(sum(charged), 0) FROM billing.usage_charges")
    assert total <= Decimal("0.0004")
    assert await db.fetchval("SELECT coalesce(sum(written_off), 0) FROM billing.usage_charges") == 0
    assert await held_amount(redis, uuid.UUID(relay.account.id)) == 0
    await _clean(stack)


async def test_a_refused_request_is_402_in_the_clients_format(stack: Stack) -> None:
    relay = await relay_for(stack, funds=Decimal(0))
    response = await stack.gateway.post(
        "/v1/messages",
        json={"model": "claude-haiku-4-5", "max_tokens": 10, "messages": CHAT["messages"]},
        headers={"x-api-key": relay.key, "anthropic-version": "2023-06-01"},
    )
    assert response.status == 402
    body = await response.json()
    assert body["type"] == "error" and "insufficient balance" in body["error"]["message"]


async def test_the_hold_covers_every_answer_a_request_asks_for(stack: Stack) -> None:
    # gpt-4o-mini: 1,000 output tokens at 0.60 per million is 0.0006 USD an answer.
    relay = await relay_for(stack, funds=Decimal("0.001"))
    headers = {"Authorization": f"Bearer {relay.key}"}
    one = {**CHAT, "max_tokens": 1000}
    response = await stack.gateway.post("/v1/chat/completions", json=one, headers=headers)
    assert response.status == 200
    four = {**one, "n": 4}
    response = await stack.gateway.post("/v1/chat/completions", json=four, headers=headers)
    assert response.status == 402
    assert "insufficient balance" in (await response.json())["error"]["message"]


async def test_a_model_without_a_price_is_refused(stack: Stack, db: Any) -> None:
    relay = await relay_for(stack)
    await db.execute("TRUNCATE billing.prices")
    app = stack.gateway.app
    assert app is not None
    from services.gateway.app_keys import PRICES

    await app[PRICES].reload()
    response = await stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {relay.key}"}
    )
    assert response.status == 400
    assert "no price" in (await response.json())["error"]["message"]


async def test_events_carry_schema_version_2_without_content(
    stack: Stack, db: Any, redis: Any
) -> None:
    relay = await relay_for(stack)
    await stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {relay.key}"}
    )
    await _settled(stack, db, 1)
    ((_, fields),) = await redis.xrange(USAGE_STREAM)
    event = orjson.loads(fields[EVENT_FIELD])
    assert event["v"] == 2 and event["user_id"] == relay.account.id
    assert event["price_multiplier"] == "1"  # the default group
    assert event["hold_id"] == event["event_id"] and Decimal(event["hold_amount"]) > 0
    assert "Say hello" not in fields[EVENT_FIELD].decode()
