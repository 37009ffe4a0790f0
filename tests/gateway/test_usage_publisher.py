"""Publishing usage events: to the stream, or to the spool while Redis is away."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from services.gateway.metering.price_cache import PriceCache
from services.gateway.metering.provider_usage import TokenUsage
from services.gateway.metering.spool import Spool
from services.gateway.metering.usage_publisher import UsagePublisher
from services.gateway.metering.usage_result import Outcome, UsageResult, UsageSource
from services.gateway.relay.metrics import RelayMetrics
from shared.holds import Holds, Placed, Snapshot, held_amount
from shared.redis_batch import CommandBatcher
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM


def _result(number: int) -> UsageResult:
    return UsageResult(
        request_id=f"req-{number}",
        endpoint="openai_chat",
        started_at=datetime.now(UTC),
        user_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
        channel_id=uuid.uuid4(),
        requested_model="gpt-4o-mini",
        upstream_model="gpt-4o-mini",
        stream=False,
        status=Outcome.OK,
        http_status=200,
        error_code=None,
        tokens=TokenUsage(input_tokens=10, output_tokens=5),
        usage_source=UsageSource.UPSTREAM,
        ttfb_ms=1.0,
        latency_ms=2.0,
        client_ip="127.0.0.1",
        user_agent="test",
    )


@asynccontextmanager
async def _publisher(
    tmp_path: Path, redis: aioredis.Redis, holds: Holds
) -> AsyncIterator[tuple[UsagePublisher, Spool]]:
    """A publisher on `redis` with a spool in `tmp_path` and no prices (events cost 0)."""
    async with aiohttp.ClientSession() as session:
        prices = PriceCache(session, "http://127.0.0.1:9", "token-token-token")
        spool = Spool(tmp_path, "gateway-test")
        spool.open()
        batch = CommandBatcher(redis)
        try:
            yield (
                UsagePublisher(
                    redis, holds, spool, prices, RelayMetrics(CollectorRegistry()), batch
                ),
                spool,
            )
        finally:
            await batch.aclose()


async def test_events_wait_in_the_spool_and_are_published_in_order(
    tmp_path: Path, redis: aioredis.Redis
) -> None:
    down = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    async with aiohttp.ClientSession() as session:
        prices = PriceCache(session, "http://127.0.0.1:9", "token-token-token")
        spool = Spool(tmp_path, "gateway-test")
        spool.open()
        metrics = RelayMetrics(CollectorRegistry())
        offline = UsagePublisher(down, Holds(down), spool, prices, metrics, CommandBatcher(down))
        for number in range(3):
            offline.record_soon(_result(number))
        await offline.drain()
        assert spool.pending == 3
        assert await redis.xlen(USAGE_STREAM) == 0
        batch = CommandBatcher(redis)
        online = UsagePublisher(redis, Holds(redis), spool, prices, metrics, batch)
        # While events wait in the spool, new ones queue behind them.
        online.record_soon(_result(3))
        await online.drain()
        assert spool.pending == 4
        stop = asyncio.Event()
        replay = asyncio.ensure_future(online.replay(stop, interval=0.05))
        for _ in range(100):
            if spool.pending == 0:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await replay
        await batch.aclose()
    await down.aclose()
    entries: Any = await redis.xrange(USAGE_STREAM)
    ids = [orjson.loads(fields[EVENT_FIELD])["event_id"] for _, fields in entries]
    assert ids == ["req-0", "req-1", "req-2", "req-3"]
    assert spool.pending == 0 and spool.path.read_bytes() == b""


async def test_a_redis_that_lost_its_scripts_still_shrinks_the_hold_once(
    tmp_path: Path, redis: aioredis.Redis
) -> None:
    """The shrink is queued by digest; after SCRIPT FLUSH it answers NOSCRIPT,
    the publisher loads the script, and the event is still published once."""
    holds = Holds(redis)
    result = replace(_result(1), hold_id="req-1", hold_amount=Decimal("0.5"))
    assert result.user_id is not None
    await holds.install(result.user_id, Snapshot(balance=Decimal(10), floor=Decimal(0), version=1))
    placed = await holds.place(result.user_id, "req-1", Decimal("0.5"), int(time.time() * 1000))
    assert placed is Placed.PLACED
    assert await held_amount(redis, result.user_id) == Decimal("0.5")
    await redis.script_flush()
    async with _publisher(tmp_path, redis, holds) as (publisher, spool):
        publisher.record_soon(result)
        await publisher.drain()
    assert await redis.xlen(USAGE_STREAM) == 1 and spool.pending == 0
    assert await held_amount(redis, result.user_id) == 0, "shrunk to the cost: unpriced, 0"


async def test_record_soon_publishes_in_the_background_and_drain_waits_for_it(
    tmp_path: Path, redis: aioredis.Redis
) -> None:
    async with _publisher(tmp_path, redis, Holds(redis)) as (publisher, _):
        for number in range(5):
            publisher.record_soon(_result(number))  # returns at once
        await publisher.drain()
    entries: Any = await redis.xrange(USAGE_STREAM)
    ids = [orjson.loads(fields[EVENT_FIELD])["event_id"] for _, fields in entries]
    assert sorted(ids) == [f"req-{n}" for n in range(5)]
