"""A running request's hold outlives its TTL; an ended one expires (once billing's
watermark is past it); a gone one stays gone.

Real Redis, with a TTL of 0.9 s (renewed every 0.3 s) instead of 15 minutes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.gateway.metering.hold_keeper import HoldKeeper
from shared import tasks
from shared.holds import WATERMARK_KEY, Holds, Placed, Snapshot, held_amount, keys
from shared.redis_batch import CommandBatcher

TTL_MS = 900


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _funded(holds: Holds, balance: str) -> uuid.UUID:
    user = uuid.uuid4()
    await holds.install(user, Snapshot(balance=Decimal(balance), floor=Decimal(0), version=1))
    return user


async def test_a_running_requests_hold_is_renewed_until_it_ends(redis: aioredis.Redis) -> None:
    holds = Holds(redis, ttl_ms=TTL_MS)
    batch = CommandBatcher(redis)
    keeper = HoldKeeper(holds, batch)
    user = await _funded(holds, "1.00")
    assert await holds.place(user, "long", Decimal("0.6"), _now_ms()) is Placed.PLACED
    keeper.opened(user, "long", _now_ms())
    stop = asyncio.Event()
    renewing = tasks.spawn(keeper.run(stop), name="hold-renewal")
    try:
        await asyncio.sleep(2.5 * TTL_MS / 1000)  # well past the hold's first expiry
        assert await held_amount(redis, user) == Decimal("0.6")
        # Still counted: another request cannot spend the money it may cost.
        assert await holds.place(user, "other", Decimal("0.6"), _now_ms()) is Placed.REFUSED
        keeper.closed("long")  # the request ended
        await asyncio.sleep(1.5 * TTL_MS / 1000)
        await redis.set(WATERMARK_KEY, _now_ms())  # billing has caught up
        assert await held_amount(redis, user) == 0
        now = _now_ms()
        assert await holds.place(user, "other", Decimal("0.6"), now, purge_ms=now) is Placed.PLACED
    finally:
        stop.set()
        await renewing
        await batch.aclose()


async def test_a_hold_that_is_gone_is_not_brought_back(redis: aioredis.Redis) -> None:
    holds = Holds(redis, ttl_ms=TTL_MS)
    batch = CommandBatcher(redis)
    keeper = HoldKeeper(holds, batch)
    user = await _funded(holds, "1.00")
    placed_ms = _now_ms() - TTL_MS  # due for renewal at once
    assert await holds.place(user, "short", Decimal("0.2"), placed_ms) is Placed.PLACED
    await holds.shrink(user, "short", Decimal(0))  # cost nothing: the hold is dropped
    keeper.opened(user, "short", placed_ms)
    try:
        assert await keeper.renew_due() == 1
        assert await redis.zscore(keys(user)[2], "short") is None
        assert await held_amount(redis, user) == 0
    finally:
        await batch.aclose()


async def test_only_holds_due_are_renewed_and_never_to_an_earlier_expiry(
    redis: aioredis.Redis,
) -> None:
    holds = Holds(redis, ttl_ms=TTL_MS)
    batch = CommandBatcher(redis)
    keeper = HoldKeeper(holds, batch)
    user = await _funded(holds, "1.00")
    now = _now_ms()
    await holds.place(user, "fresh", Decimal("0.1"), now)
    await holds.place(user, "old", Decimal("0.1"), now - TTL_MS // 2)
    keeper.opened(user, "fresh", now)
    keeper.opened(user, "old", now - TTL_MS // 2)
    try:
        assert await keeper.renew_due(now) == 1  # "old" only
        assert await redis.zscore(keys(user)[2], "old") == now + TTL_MS
        assert await redis.zscore(keys(user)[2], "fresh") == now + TTL_MS
        # A renewal computed earlier than the expiry in place does not shorten it.
        await batch.execute(*holds.renew_command(user, "old", now))
        assert await redis.zscore(keys(user)[2], "old") == now + TTL_MS
    finally:
        await batch.aclose()


async def test_a_renewal_redis_did_not_answer_is_due_again() -> None:
    down = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    holds = Holds(down, ttl_ms=TTL_MS)
    batch = CommandBatcher(down)
    keeper = HoldKeeper(holds, batch)
    keeper.opened(uuid.uuid4(), "a", _now_ms() - TTL_MS)
    keeper.opened(uuid.uuid4(), "b", _now_ms() - TTL_MS)
    try:
        for _ in range(2):  # not marked renewed: tried again on the next tick
            with pytest.raises(RedisConnectionError):
                await keeper.renew_due()
    finally:
        await batch.aclose()
        await down.aclose()
