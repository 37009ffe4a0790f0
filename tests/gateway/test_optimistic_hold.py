"""The hold off the latency path (DESIGN 13): a well-funded caller's hold and
upstream request go together, and a refused hold never relays a byte.

Each refusal is made to happen while the request is in flight: the gateway's
hold is let through only once the mock provider has begun answering the
request (so the upstream request had gone first), and just before it, other
requests (another gateway's: the same Redis scripts) drain the balance, fill
the key's budget or take its requests-per-minute. The gateway still believes
the balance it last saw, so it takes the optimistic path; the hold's script
refuses; the client gets the refusal in its format and not one byte of the
upstream's answer; the provider sees its request start and be cancelled.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.gateway.app_keys import HOLD_GATE
from shared import key_budgets
from shared.holds import Holds, Placed, keys
from shared.limits import Kind, Limit, Scope
from shared.stream_consumer import USAGE_STREAM
from tests.conftest import Stack
from tests.gateway.limited import CHAT, LimitedKey, limited_key

SLOW = {"X-Mock-Chunks": "50", "X-Mock-Delay-Ms": "100"}  # 5 s unless cut
STREAM = {**CHAT, "stream": True}


async def _stats(stack: Stack) -> dict[str, Any]:
    async with stack.gateway.session.get(stack.mock.make_url("/mock/stats")) as response:
        stats: dict[str, Any] = await response.json()
        return stats


async def _clear_stats(stack: Stack) -> None:
    async with stack.gateway.session.delete(stack.mock.make_url("/mock/stats")) as response:
        assert response.status in (200, 204)


async def _upstream_has_it(stack: Stack) -> None:
    """Until the mock is answering one request (it started upstream); 5 s at most."""
    deadline = time.monotonic() + 5
    while (await _stats(stack))["open"] < 1:
        assert time.monotonic() < deadline, "the upstream request never started: not optimistic"
        await asyncio.sleep(0.01)


async def _drain(redis: aioredis.Redis, key: LimitedKey) -> None:
    """Other requests hold everything the balance has left above its floor."""
    acct = await redis.hgetall(keys(key.user_id)[0])
    left = int(acct[b"bal"]) - int(acct.get(b"held", 0)) - int(acct.get(b"floor", 0))
    placed = await Holds(redis).place(
        key.user_id, "another-gateways-request", Decimal(left) / 10**9, int(time.time() * 1000)
    )
    assert placed is Placed.PLACED


async def _spend_budget(redis: aioredis.Redis, key: LimitedKey) -> None:
    period = key_budgets.period_id("day", datetime.now(UTC))
    await redis.hincrby(key_budgets.counter_key(key.user_id, key.key_id, period), "spent", 10**9)


async def _take_rpm(redis: aioredis.Redis, key: LimitedKey) -> None:
    """Other requests take the key's whole minute of requests (its GCRA TAT a
    minute ahead, as ten requests at once leave it)."""
    ahead = int(time.time() * 1000) + 60_000
    await redis.set(key.redis_key(Kind.RPM), str(ahead), px=61_000)


Meanwhile = Callable[[aioredis.Redis, LimitedKey], Awaitable[None]]


@pytest.mark.parametrize(
    ("meanwhile", "key_limits", "budget", "status", "code"),
    [
        (_drain, None, None, 402, "insufficient_balance"),
        (_spend_budget, None, "1", 402, "budget_exceeded"),
        (_take_rpm, {"rpm": 10}, None, 429, "rate_limit_exceeded"),
    ],
)
async def test_a_hold_refused_while_its_upstream_runs_relays_not_one_byte(
    stack: Stack,
    db: Any,
    redis: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    meanwhile: Meanwhile,
    key_limits: dict[str, int] | None,
    budget: str | None,
    status: int,
    code: str,
) -> None:
    key = await limited_key(stack, db, funds=Decimal(5), key_limits=key_limits)
    if budget is not None:
        response = await stack.gateway.patch(
            f"/api/keys/{key.key_id}",
            json={"budget": {"usd": budget, "period": "day"}},
            headers=key.account.headers,
        )
        assert response.status == 200
    url = "/v1/chat/completions"
    warm_up = await stack.gateway.post(url, json=CHAT, headers=key.headers)
    assert warm_up.status == 200  # the gateway now knows about 5 USD are available
    await asyncio.sleep(0.3)
    events = await redis.xlen(USAGE_STREAM)
    await _clear_stats(stack)

    gate = stack.gateway.app[HOLD_GATE]
    reserve = gate.reserve

    async def in_flight(*args: Any, **kwargs: Any) -> Any:
        await _upstream_has_it(stack)
        await meanwhile(redis, key)
        return await reserve(*args, **kwargs)

    monkeypatch.setattr(gate, "reserve", in_flight)
    response = await stack.gateway.post(url, json=STREAM, headers=key.headers | SLOW)
    body = await response.read()
    assert response.status == status, body
    assert response.headers["Content-Type"].startswith("application/json")
    assert b"data:" not in body and b"chat.completion.chunk" not in body  # not one byte relayed
    assert (await response.json())["error"]["code"] == code

    deadline = time.monotonic() + 2
    while (stats := await _stats(stack))["open"] or not stats["ended"]:
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.02)
    assert stats["requests"] == 1
    assert [ended["outcome"] for ended in stats["ended"]] == ["cancelled"]

    await asyncio.sleep(0.3)
    assert await redis.xlen(USAGE_STREAM) == events  # no usage event: nothing was delivered
    assert response.headers["X-Request-Id"].encode() not in await redis.hgetall(
        keys(key.user_id)[1]
    )  # no hold of its own
    assert "hold refused after its upstream request went" in caplog.text
    assert await redis.zcard(key.redis_key(Kind.CONCURRENCY)) == 0


async def test_a_thin_balance_keeps_the_hold_first(stack: Stack, db: Any, redis: Any) -> None:
    # About twice one request's worst case (0.00004 USD): below the multiple of 4.
    key = await limited_key(stack, db, funds=Decimal("0.0001"))
    assert (
        await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=key.headers)
    ).status == 200
    await asyncio.sleep(0.3)
    await _drain(redis, key)
    await _clear_stats(stack)
    response = await stack.gateway.post(
        "/v1/chat/completions", json=STREAM, headers=key.headers | SLOW
    )
    assert response.status == 402
    assert (await _stats(stack))["requests"] == 0  # the upstream never heard of it


async def test_a_multiple_of_0_turns_it_off(
    stack: Stack, db: Any, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await limited_key(stack, db, funds=Decimal(5))
    gate = stack.gateway.app[HOLD_GATE]
    assert (
        await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=key.headers)
    ).status == 200
    assert gate.covers(key.user_id, Decimal("0.001"), ())
    monkeypatch.setattr(gate.headroom, "multiple", 0)
    assert not gate.covers(key.user_id, Decimal("0.001"), ())
    await asyncio.sleep(0.3)
    await _drain(redis, key)
    await _clear_stats(stack)
    response = await stack.gateway.post(
        "/v1/chat/completions", json=STREAM, headers=key.headers | SLOW
    )
    assert response.status == 402
    assert (await _stats(stack))["requests"] == 0
    monkeypatch.setattr(gate.headroom, "multiple", 4)
    assert not gate.covers(key.user_id, Decimal("0.001"), ())  # the refusal forgot the balance


async def test_an_unknown_caller_and_a_big_request_keep_the_hold_first(
    stack: Stack, db: Any
) -> None:
    key = await limited_key(stack, db, funds=Decimal(5))
    gate = stack.gateway.app[HOLD_GATE]
    assert not gate.covers(key.user_id, Decimal("0.000001"), ())  # never seen
    assert (
        await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=key.headers)
    ).status == 200
    assert gate.covers(key.user_id, Decimal("1"), ())  # about 5 USD left: 4 x 1 fits
    assert not gate.covers(key.user_id, Decimal("2"), ())
    assert not gate.covers(uuid.uuid4(), Decimal("0.000001"), ())


async def test_a_limit_with_little_room_keeps_the_hold_first(stack: Stack, db: Any) -> None:
    key = await limited_key(stack, db, funds=Decimal(5), key_limits={"rpm": 5})
    gate = stack.gateway.app[HOLD_GATE]
    rpm = Limit(key.redis_key(Kind.RPM), Kind.RPM, Scope.KEY, 5, 1)
    assert (
        await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=key.headers)
    ).status == 200
    assert gate.covers(key.user_id, Decimal("0.00004"), (rpm,))  # 4 left: 4 x 1
    assert (
        await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=key.headers)
    ).status == 200
    assert not gate.covers(key.user_id, Decimal("0.00004"), (rpm,))  # 3 left
    assert gate.covers(key.user_id, Decimal("0.00004"), ())  # the balance alone would
    other = Limit(key.redis_key(Kind.TPM), Kind.TPM, Scope.KEY, 10**6, 100)
    assert not gate.covers(key.user_id, Decimal("0.00004"), (other,))  # never seen


async def test_200_concurrent_optimistic_calls_never_spend_below_the_floor(
    stack: Stack, db: Any, redis: Any
) -> None:
    # About ten requests' worst case (0.00004 USD each); the warm-up's answer tells
    # the gateway about 0.00036 is left: over 4 times the worst case, so the 200
    # go optimistic (holds and upstream requests together) until refusals come.
    key = await limited_key(stack, db, funds=Decimal("0.0004"))
    url = "/v1/chat/completions"
    assert (await stack.gateway.post(url, json=CHAT, headers=key.headers)).status == 200
    gate = stack.gateway.app[HOLD_GATE]
    assert gate.covers(key.user_id, Decimal("0.00004"), ())

    async def one() -> tuple[int, bytes]:
        response = await stack.gateway.post(url, json=CHAT, headers=key.headers)
        return response.status, await response.read()

    answers = await asyncio.gather(*(one() for _ in range(200)))
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 402} and statuses.count(402) > 0, set(statuses)
    assert all(b"insufficient balance" in body for status, body in answers if status == 402)
    succeeded = statuses.count(200) + 1
    deadline = time.monotonic() + 15
    paid = "SELECT count(*) FROM billing.usage_charges WHERE cost > 0"
    while await db.fetchval(paid) < succeeded:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert await db.fetchval(paid) == succeeded
    charged = await db.fetchval("SELECT coalesce(sum(charged), 0) FROM billing.usage_charges")
    assert charged <= Decimal("0.0004")
    assert await db.fetchval("SELECT coalesce(sum(written_off), 0) FROM billing.usage_charges") == 0
    balance = await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", key.user_id
    )
    assert balance >= 0
