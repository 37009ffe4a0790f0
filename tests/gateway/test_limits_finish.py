"""A finished request's limits, in the command that shrinks its hold: its slots
released and its TPM reserve settled, also while events wait in the spool
(the hold then waits for billing) and after Redis lost its scripts."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from services.gateway.metering.price_cache import PriceCache
from services.gateway.metering.provider_usage import TokenUsage
from services.gateway.metering.spool import Spool
from services.gateway.metering.usage_publisher import UsagePublisher
from services.gateway.metering.usage_result import Outcome, UsageResult, UsageSource
from services.gateway.relay.metrics import RelayMetrics
from shared.holds import Holds, Snapshot, keys
from shared.limits import Kind, Limit, Scope, key_for
from shared.redis_batch import CommandBatcher

TPM = 6000  # one token moves the TAT by 10 ms


@asynccontextmanager
async def _publisher(
    tmp_path: Path, redis: aioredis.Redis, holds: Holds
) -> AsyncIterator[tuple[UsagePublisher, Spool]]:
    async with aiohttp.ClientSession() as session:
        prices = PriceCache(session, "http://127.0.0.1:9", "token-token-token")  # cost 0
        spool = Spool(tmp_path, "gateway-test")
        spool.open()
        batch = CommandBatcher(redis)
        try:
            metrics = RelayMetrics(CollectorRegistry())
            yield UsagePublisher(redis, holds, spool, prices, metrics, batch), spool
        finally:
            await batch.aclose()


async def _admitted(holds: Holds, user_id: uuid.UUID) -> tuple[UsageResult, tuple[Limit, ...]]:
    """A request admitted against a slot and 1000 tokens per minute, reserving 500."""
    applied = (
        Limit(key_for(user_id, None, Kind.CONCURRENCY), Kind.CONCURRENCY, Scope.USER, 2, 0),
        Limit(key_for(user_id, None, Kind.TPM), Kind.TPM, Scope.USER, TPM, 500),
    )
    await holds.install(user_id, Snapshot(Decimal(10), Decimal(0), 1))
    now = int(time.time() * 1000)
    placed = await holds.place_limited(user_id, "req-1", Decimal(1), now, applied, now + 60_000)
    assert placed.placed == 1
    result = UsageResult(
        request_id="req-1",
        endpoint="openai_chat",
        started_at=datetime.now(UTC),
        user_id=user_id,
        key_id=None,
        channel_id=uuid.uuid4(),
        requested_model="gpt-4o-mini",
        upstream_model="gpt-4o-mini",
        stream=False,
        status=Outcome.OK,
        http_status=200,
        error_code=None,
        tokens=TokenUsage(input_tokens=60, output_tokens=40),
        usage_source=UsageSource.UPSTREAM,
        ttfb_ms=1.0,
        latency_ms=2.0,
        client_ip="127.0.0.1",
        user_agent="test",
        hold_id="req-1",
        hold_amount=Decimal(1),
        limits=applied,
    )
    return result, applied


async def _ahead_ms(redis: aioredis.Redis, limit: Limit) -> float:
    tat = await redis.get(limit.key)
    assert tat is not None
    return float(tat) - time.time() * 1000


async def test_the_finish_releases_the_slot_settles_tokens_and_shrinks_the_hold(
    tmp_path: Path, redis: aioredis.Redis
) -> None:
    holds, user_id = Holds(redis), uuid.uuid4()
    result, (slot, tokens) = await _admitted(holds, user_id)
    assert 4900 < await _ahead_ms(redis, tokens) <= 5000  # 500 tokens reserved
    async with _publisher(tmp_path, redis, holds) as (publisher, _):
        publisher.record(result)
        await publisher.drain()
    assert await redis.zcard(slot.key) == 0
    assert 900 < await _ahead_ms(redis, tokens) <= 1000  # settled to the 100 used
    assert await redis.hget(keys(user_id)[1], "req-1") is None  # cost 0: the hold dropped


async def test_while_events_wait_in_the_spool_the_slot_still_goes(
    tmp_path: Path, redis: aioredis.Redis
) -> None:
    holds, user_id = Holds(redis), uuid.uuid4()
    result, (slot, tokens) = await _admitted(holds, user_id)
    async with _publisher(tmp_path, redis, holds) as (publisher, spool):
        spool.append(b'{"an": "earlier event"}')
        publisher.record(result)
        await publisher.drain()
        assert spool.pending == 2  # behind the earlier one
    assert await redis.zcard(slot.key) == 0
    assert 900 < await _ahead_ms(redis, tokens) <= 1000
    assert await redis.hget(keys(user_id)[1], "req-1") == b"1000000000"  # left for billing


async def test_a_redis_that_lost_its_scripts_still_finishes_once(
    tmp_path: Path, redis: aioredis.Redis
) -> None:
    holds, user_id = Holds(redis), uuid.uuid4()
    result, (slot, tokens) = await _admitted(holds, user_id)
    await redis.script_flush()
    async with _publisher(tmp_path, redis, holds) as (publisher, _):
        publisher.record(result)
        await publisher.drain()
    assert await redis.zcard(slot.key) == 0
    assert 900 < await _ahead_ms(redis, tokens) <= 1000  # settled once, not twice
