"""Limits shared by every gateway replica (DESIGN 13), with real gateway processes.

Two `python -m services.gateway` processes share the test's Redis and
PostgreSQL: a key's requests per minute are counted once across them, a
refusal takes nothing (no slot, no quota, no hold, no event, no charge), and
the concurrency slots of a gateway killed mid-request expire a slot TTL
after their last renewal, so the key is not locked out for good.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from services.mockprovider.keys import STATS
from shared.holds import held_amount, keys
from shared.limits import Kind
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM
from tests.conftest import Stack
from tests.gateway.gateway_processes import gateway_processes
from tests.gateway.limited import CHAT, limited_key

TIMEOUT = aiohttp.ClientTimeout(total=30)


async def _chat(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.post(
        f"{url}/v1/chat/completions", json=CHAT, headers=headers, timeout=TIMEOUT
    ) as response:
        return response.status, response.headers.copy(), await response.read()


async def _events_of(redis: aioredis.Redis, user_id: uuid.UUID) -> list[dict[str, Any]]:
    entries: Any = await redis.xrange(USAGE_STREAM)
    events = [orjson.loads(fields[EVENT_FIELD]) for _, fields in entries]
    return [event for event in events if event["user_id"] == str(user_id)]


async def _charged(db: Any, user_id: uuid.UUID, count: int) -> int:
    """Billing's charges of the user, once it has `count` of them (at most 10 s)."""
    found = 0
    for _ in range(100):
        found = await db.fetchval(
            "SELECT count(*) FROM billing.usage_charges WHERE user_id = $1", user_id
        )
        if found >= count:
            break
        await asyncio.sleep(0.1)
    return int(found)


async def test_an_rpm_of_10_admits_exactly_10_of_30_calls_across_two_gateways(
    stack: Stack, db: Any, redis: aioredis.Redis, tmp_path: Path
) -> None:
    limited = await limited_key(stack, db, key_limits={"rpm": 10})
    mock_stats = stack.mock.app[STATS]
    calls_before = mock_stats.requests
    # Holds first, always: on the latency path a request refused by the limit may
    # already have been sent upstream, then cancelled (tests/gateway/
    # test_optimistic_hold.py); here every refusal must come before any upstream call.
    async with (
        gateway_processes(stack, tmp_path, 2, GATEWAY_OPTIMISTIC_HOLD_MULTIPLE="0") as gateways,
        aiohttp.ClientSession() as http,
    ):
        answers = await asyncio.gather(
            *(_chat(http, gateways[i % 2].url, limited.headers) for i in range(30))
        )
    assert Counter(status for status, _, _ in answers) == {200: 10, 429: 20}
    assert mock_stats.requests - calls_before == 10  # no refused call went upstream
    remaining = sorted(int(h["x-ratelimit-remaining-requests"]) for s, h, _ in answers if s == 200)
    assert remaining == list(range(10))  # each admitted call took one, once, on either gateway
    for status, headers, body in answers:
        assert headers["x-ratelimit-limit-requests"] == "10"
        if status != 429:
            continue
        error = orjson.loads(body)["error"]
        assert error["message"] == "rate limit: 10 requests per minute for this key"
        assert error["type"] == "rate_limit_error"
        assert error["code"] == "rate_limit_exceeded"
        # The 11th call may come 6 s after the first: every refusal says so, rounded up.
        assert 1 <= int(headers["Retry-After"]) <= 6
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")

    # Refusals took nothing: no hold, no usage event, no charge.
    events = await _events_of(redis, limited.user_id)
    assert len(events) == 10
    assert {event["http_status"] for event in events} == {200}
    assert await _charged(db, limited.user_id, 10) == 10
    await asyncio.sleep(0.5)
    assert await _charged(db, limited.user_id, 11) == 10
    assert await redis.hlen(keys(limited.user_id)[1]) == 0  # every hold settled
    assert await held_amount(redis, limited.user_id) == 0


async def _stream_open(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], exits: AsyncExitStack
) -> None:
    """A slow stream through `url`, left running once its first bytes arrived."""
    response = await exits.enter_async_context(
        http.post(
            f"{url}/v1/chat/completions",
            json=CHAT | {"stream": True},
            headers=headers | {"X-Mock-Chunks": "300", "X-Mock-Delay-Ms": "100"},
            timeout=TIMEOUT,
        )
    )
    assert response.status == 200, await response.text()
    await response.content.readany()


async def test_a_killed_gateways_concurrency_slots_expire(
    stack: Stack, db: Any, redis: aioredis.Redis, tmp_path: Path
) -> None:
    limited = await limited_key(stack, db, key_limits={"concurrency": 2})
    slots = limited.redis_key(Kind.CONCURRENCY)
    async with (
        gateway_processes(stack, tmp_path, 2, GATEWAY_SLOT_TTL_SECONDS="3") as (doomed, survivor),
        aiohttp.ClientSession() as http,
        AsyncExitStack() as streams,
    ):
        await _stream_open(http, doomed.url, limited.headers, streams)
        await _stream_open(http, doomed.url, limited.headers, streams)
        assert await redis.zcard(slots) == 2
        # Renewed while they run: still held after more than a slot TTL.
        await asyncio.sleep(3.5)
        status, headers, body = await _chat(http, survivor.url, limited.headers)
        assert status == 429, body
        assert orjson.loads(body)["error"]["message"] == (
            "rate limit: 2 concurrent requests for this key"
        )
        assert headers["Retry-After"] == "1"

        await doomed.kill()  # SIGKILL: nothing releases its slots
        killed = time.monotonic()
        while True:
            status, _, body = await _chat(http, survivor.url, limited.headers)
            waited = time.monotonic() - killed
            if status == 200:
                break
            assert status == 429, body
            assert waited < 4.5, "a dead gateway's slots never expired"
            await asyncio.sleep(0.1)
        # Its last renewal was at most a third of the TTL before the kill.
        assert waited >= 1.5, waited
        for _ in range(20):  # the survivor's own slot is released as its answer is recorded
            if await redis.zcard(slots) == 0:
                break
            await asyncio.sleep(0.05)
        assert await redis.zcard(slots) == 0
