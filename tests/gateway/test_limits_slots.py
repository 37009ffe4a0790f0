"""Concurrency slots end with their requests (DESIGN 13): client hang-ups and
upstream failures included, so a key is never locked out by requests that
are gone. (A dead gateway's slots: test_limits_across_gateways.)"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from shared.limits import Kind
from tests.conftest import Stack
from tests.gateway.limited import CHAT, LimitedKey, limited_key

STREAMS = 50
SLOW = {"X-Mock-Chunks": "300", "X-Mock-Delay-Ms": "100"}  # 30 s unless cut


async def _slots_after(redis: aioredis.Redis, key: str, seconds: float) -> tuple[int, float]:
    """The slots still held once they are all gone, or after `seconds`; and when."""
    started = time.monotonic()
    while True:
        held = int(await redis.zcard(key))
        waited = time.monotonic() - started
        if held == 0 or waited > seconds:
            return held, waited
        await asyncio.sleep(0.01)


def _url(stack: Stack) -> str:
    return str(stack.gateway.make_url("/v1/chat/completions"))


async def _open_streams(
    http: aiohttp.ClientSession, stack: Stack, limited: LimitedKey, count: int
) -> list[aiohttp.ClientResponse]:
    async def one() -> aiohttp.ClientResponse:
        response = await http.post(
            _url(stack), json=CHAT | {"stream": True}, headers=limited.headers | SLOW
        )
        assert response.status == 200, await response.text()
        await response.content.readany()  # the stream is under way
        return response

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_50_streams_cancelled_by_their_clients_free_every_slot_within_a_second(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    limited = await limited_key(stack, db, key_limits={"concurrency": STREAMS})
    slots = limited.redis_key(Kind.CONCURRENCY)
    async with aiohttp.ClientSession() as http:
        streams = await _open_streams(http, stack, limited, STREAMS)
        assert await redis.zcard(slots) == STREAMS
        # The 51st waits for a slot.
        async with http.post(_url(stack), json=CHAT, headers=limited.headers) as refused:
            assert refused.status == 429
            body = orjson.loads(await refused.read())
            assert body["error"]["message"] == "rate limit: 50 concurrent requests for this key"
        for response in streams:
            response.close()  # the client hangs up mid-stream
    held, waited = await _slots_after(redis, slots, 1.0)
    assert held == 0, f"{held} slots still held {waited:.2f} s after the hang-ups"
    async with aiohttp.ClientSession() as http:
        async with http.post(_url(stack), json=CHAT, headers=limited.headers) as response:
            assert response.status == 200


async def test_an_upstream_failure_frees_its_slot(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    limited = await limited_key(stack, db, key_limits={"concurrency": 1})
    slots = limited.redis_key(Kind.CONCURRENCY)
    async with aiohttp.ClientSession() as http:
        for _ in range(3):  # each one would be refused if the one before kept its slot
            async with http.post(
                _url(stack), json=CHAT, headers=limited.headers | {"X-Mock-Status": "400"}
            ) as response:
                assert response.status == 400, await response.text()
            held, _ = await _slots_after(redis, slots, 1.0)
            assert held == 0
        async with http.post(
            _url(stack),
            json=CHAT | {"stream": True},
            headers=limited.headers | {"X-Mock-Chunks": "20", "X-Mock-Reset-After": "3"},
        ) as response:
            assert response.status == 200
            await response.read()  # the upstream broke mid-stream: the stream ends
        held, _ = await _slots_after(redis, slots, 1.0)
        assert held == 0


async def test_one_call_after_another_never_waits_for_a_slot(stack: Stack, db: Any) -> None:
    # The slot is free before the client's next request is read (keep-alive included).
    limited = await limited_key(stack, db, key_limits={"concurrency": 1})
    async with aiohttp.ClientSession() as http:
        for index in range(30):
            body = CHAT | {"stream": index % 2 == 1}
            async with http.post(_url(stack), json=body, headers=limited.headers) as response:
                await response.read()
                assert response.status == 200, (index, await response.text())
