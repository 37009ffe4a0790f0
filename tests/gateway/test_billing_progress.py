"""The gateway's last read of billing's watermark: forward only, nothing expires until read."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from services.gateway.metering.billing_progress import BillingProgress
from shared import tasks
from shared.holds import WATERMARK_KEY


async def test_until_a_watermark_is_read_no_hold_expires(redis: aioredis.Redis) -> None:
    progress = BillingProgress(redis)
    assert progress.purge_before(1_000_000) == 0


async def test_the_watermark_kept_only_moves_forward(redis: aioredis.Redis) -> None:
    progress = BillingProgress(redis)
    progress.saw(5_000)
    progress.saw(4_000)  # a replica's older value, or a Redis that lost the key
    progress.saw(None)
    assert progress.watermark_ms == 5_000
    assert progress.purge_before(9_000) == 5_000
    assert progress.purge_before(2_000) == 2_000


async def test_it_follows_the_watermark_billing_stores(redis: aioredis.Redis) -> None:
    progress = BillingProgress(redis)
    await progress.refresh()
    assert progress.watermark_ms is None
    await redis.set(WATERMARK_KEY, 7_000)
    stop = asyncio.Event()
    following = tasks.spawn(progress.run(stop), name="billing-progress")
    try:
        for _ in range(100):
            if progress.watermark_ms == 7_000:
                break
            await asyncio.sleep(0.02)
        assert progress.watermark_ms == 7_000
    finally:
        stop.set()
        await following


async def test_a_redis_that_does_not_answer_keeps_the_last_value() -> None:
    down = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    progress = BillingProgress(down)
    progress.saw(3_000)
    stop = asyncio.Event()
    following = tasks.spawn(progress.run(stop), name="billing-progress")
    try:
        await asyncio.sleep(0.3)
        assert progress.watermark_ms == 3_000
    finally:
        stop.set()
        await following
        await down.aclose()
