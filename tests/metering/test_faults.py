"""The fault table of DESIGN.md section 6, with real processes under load.

Billing or usage killed with SIGKILL mid-batch, Redis killed and restarted,
Redis gone for ten seconds: through each, every usage event the gateway
emitted is charged and recorded exactly once, no request is relayed without
being metered, and `reconcile` finds nothing wrong once the consumers have
caught up.

Each test starts a private `redis-server` (the one Redis every service uses)
and runs the killed services as real processes (`python -m services.<name>`,
configured through the environment as in production); the gateway, auth and
the mock provider run in process on loopback, as in the `stack` fixture.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from services.mockprovider.keys import STATS
from services.usage.app import create_app as create_usage
from services.usage.settings import Settings as UsageSettings
from shared import tasks
from shared.settings import Common
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM
from tests.conftest import common_for
from tests.metering.fault_stack import (
    CHAT,
    Answer,
    Client,
    auth_and_gateway,
    chat,
    client_loop,
    emitted_ids,
    exactly_once,
    funded_key,
    mock_provider,
    private_redis,
    server,
    service_process,
    under_load,
    upstream_calls,
)
from tests.processes import RedisProcess, ServiceProcess

FUNDS = Decimal(100)  # a request costs about 0.00004 USD at worst: none refused for money
PER_CLIENT = 6000  # bound on each client loop; the faults, not this, end the load
LOAD_SECONDS = 90.0  # bound on the whole load
SETTLE_SECONDS = 20.0  # below the consumers' claim idle time (30 s): no XAUTOCLAIM rescue


@dataclass(frozen=True, kw_only=True)
class FaultStack:
    gateway: Client
    mock: TestServer
    redis: RedisProcess
    billing: ServiceProcess | None  # None: billing runs in process
    usage: ServiceProcess | None
    common: Common
    spool_dir: Path


OpenStack = Callable[..., Awaitable[FaultStack]]


async def _consumer_service(
    exits: AsyncExitStack, name: str, common: Common, as_process: bool
) -> tuple[str, ServiceProcess | None]:
    if not as_process:
        if name == "billing":
            return await server(exits, create_billing(BillingSettings(common=common))), None
        return await server(exits, create_usage(UsageSettings(common=common))), None
    process = await service_process(exits, name, common)
    return process.url, process


@pytest.fixture
async def open_stack(database_url: str, db: Any, tmp_path: Path) -> AsyncIterator[OpenStack]:
    """Opens the stack: a private Redis, billing and usage (in process or as processes),
    auth, the mock provider and the gateway; everything is stopped (processes
    killed) at the end, before the `db` fixture empties the tables."""
    async with AsyncExitStack() as exits:

        async def open_(*, processes: frozenset[str], persistent: bool) -> FaultStack:
            redis = await private_redis(exits, tmp_path, persistent=persistent)
            common = common_for(tmp_path, database_url, redis.url)
            mock = await mock_provider(exits)
            billing_url, billing = await _consumer_service(
                exits, "billing", common, "billing" in processes
            )
            usage_url, usage = await _consumer_service(exits, "usage", common, "usage" in processes)
            gateway = await auth_and_gateway(
                exits, common, billing_url=billing_url, usage_url=usage_url
            )
            return FaultStack(
                gateway=gateway,
                mock=mock,
                redis=redis,
                billing=billing,
                usage=usage,
                common=common,
                spool_dir=common.data_dir / "spool",
            )

        yield open_


async def _exactly_once(stack: FaultStack, db: Any, emitted: list[str]) -> None:
    """`exactly_once`, with at least one charge paid."""
    paid = await exactly_once(db, stack.common, emitted, funds=FUNDS, settle_seconds=SETTLE_SECONDS)
    assert paid > 0


def _spooled(spool_dir: Path) -> list[str]:
    """Event ids waiting in the spool directory, in file and line order."""
    ids = []
    for path in sorted(spool_dir.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                ids.append(orjson.loads(line)["event_id"])
    return ids


# ---------------------------------------------------------------- consumers killed


async def _consumer_killed_three_times(
    open_stack: OpenStack, db: Any, caplog: pytest.LogCaptureFixture, victim: str
) -> None:
    stack = await open_stack(processes=frozenset({victim}), persistent=False)
    process = stack.billing if victim == "billing" else stack.usage
    assert process is not None
    _, key = await funded_key(stack, FUNDS)
    warm = await chat(stack.gateway, key)
    assert warm.status == 200, warm.body
    rng_seed = random.randrange(1_000_000)
    rng = random.Random(rng_seed)

    kills: list[float] = []
    left_pending: list[int] = []

    async def kill_three_times(stop: asyncio.Event) -> None:
        async with aioredis.from_url(stack.common.redis_url) as redis:
            for _ in range(3):
                await asyncio.sleep(rng.uniform(0.8, 2.0))
                await _batch_in_hand(redis, victim, process)
                await process.kill()
                kills.append(time.monotonic())
                left_pending.append(await _pending(redis, victim))
                await process.start()  # waits for /healthz
        await asyncio.sleep(0.5)

    answers = await under_load(
        stack.gateway, key, kill_three_times, requests=PER_CLIENT, bound_seconds=LOAD_SECONDS
    )
    assert process.kills == 3
    # At least one kill caught the consumer with a batch delivered and not acknowledged.
    assert sum(left_pending) > 0, left_pending
    # The load ran from before the first kill to after the last restart.
    assert min(a.started for a in answers) < kills[0] < kills[-1] < max(a.started for a in answers)
    assert [a.status for a in answers if a.status != 200] == [], f"seed {rng_seed}"
    assert len(answers) >= 100, f"too little load to mean anything: {len(answers)} requests"
    emitted = await emitted_ids(caplog)
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    await _exactly_once(stack, db, emitted)
    assert upstream_calls(stack.mock) == len(emitted)


async def _pending(redis: aioredis.Redis, group: str) -> int:
    summary: Any = await redis.xpending(USAGE_STREAM, group)
    return int(summary["pending"])


async def _batch_in_hand(redis: aioredis.Redis, group: str, consumer: ServiceProcess) -> None:
    """Leave the consumer frozen with entries delivered and not acknowledged (tried
    for about 2 s; frozen as it is after that): a kill then catches a batch in hand.

    Seeing entries pending and then killing is a race a fast consumer often
    wins (it acknowledges in between); frozen, it cannot.
    """
    for _ in range(1000):
        if await _pending(redis, group):
            consumer.freeze(True)
            if await _pending(redis, group):
                return
            consumer.freeze(False)
        await asyncio.sleep(0.002)
    consumer.freeze(True)


async def test_billing_killed_three_times_under_load_charges_every_event_once(
    open_stack: OpenStack, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await _consumer_killed_three_times(open_stack, db, caplog, "billing")


async def test_usage_killed_three_times_under_load_records_every_event_once(
    open_stack: OpenStack, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await _consumer_killed_three_times(open_stack, db, caplog, "usage")


# ---------------------------------------------------------------- Redis killed


async def test_redis_killed_and_restarted_under_load_loses_no_event(
    open_stack: OpenStack, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stack = await open_stack(processes=frozenset({"billing", "usage"}), persistent=True)
    _, key = await funded_key(stack, FUNDS)
    warm = await chat(stack.gateway, key)
    assert warm.status == 200, warm.body
    stack.mock.app[STATS].clear()
    outage: list[float] = []

    async def kill_redis_for_a_second(stop: asyncio.Event) -> None:
        await asyncio.sleep(2.0)
        await stack.redis.kill()
        outage.append(time.monotonic())
        await asyncio.sleep(1.0)
        await stack.redis.start()
        outage.append(time.monotonic())
        await asyncio.sleep(3.0)

    answers = await under_load(
        stack.gateway, key, kill_redis_for_a_second, requests=PER_CLIENT, bound_seconds=LOAD_SECONDS
    )
    killed, restarted = outage
    statuses = {a.status for a in answers}
    assert statuses <= {200, 503}, statuses
    assert any(a.started < restarted and a.ended > killed for a in answers)
    assert any(a.started > restarted and a.status == 200 for a in answers)
    # Every answer, refused or not, was one usage event; the relayed ones were
    # each one upstream call, and nothing else reached the upstream but requests
    # sent with their holds before the gateway saw Redis fail (the hold off the
    # latency path), each refused, none relayed.
    emitted = await emitted_ids(caplog)
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    relayed = [a for a in answers if a.status == 200]
    assert (
        len(relayed) <= upstream_calls(stack.mock) <= len(relayed) + _sent_before_failure(answers)
    )
    await _exactly_once(stack, db, emitted)
    ok = {
        r["event_id"]
        for r in await db.fetch("SELECT event_id FROM usage.records WHERE http_status = 200")
    }
    assert ok == {warm.request_id} | {a.request_id for a in relayed}


async def test_redis_gone_for_ten_seconds_spools_in_flight_events_and_fails_closed(
    open_stack: OpenStack, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stack = await open_stack(processes=frozenset({"billing", "usage"}), persistent=True)
    _, key = await funded_key(stack, FUNDS)
    warm = await chat(stack.gateway, key)
    assert warm.status == 200, warm.body
    stack.mock.app[STATS].clear()
    after = await _last_entry(stack)
    running: list[asyncio.Future[Any]] = []
    try:
        # Streams in flight when Redis goes: 8 pieces 250 ms apart, about 2 s.
        streaming = {**CHAT, "stream": True}
        slow = {"X-Mock-Chunks": "8", "X-Mock-Delay-Ms": "250"}
        answering = [asyncio.Event() for _ in range(4)]
        streams = [
            tasks.spawn(
                chat(stack.gateway, key, body=streaming, headers=slow, answering=event),
                name="in-flight stream",
            )
            for event in answering
        ]
        running += streams
        # Their holds are placed and the first pieces relayed.
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in answering)), timeout=10)
        assert not any(s.done() for s in streams)
        await stack.redis.kill()
        killed = time.monotonic()
        # Clients keep coming while Redis is down.
        refused: list[Answer] = []
        stop = asyncio.Event()
        during = asyncio.gather(
            *(
                client_loop(stack.gateway, key, stop, refused, requests=PER_CLIENT, pause=0.05)
                for _ in range(2)
            )
        )
        running.append(during)
        try:
            await asyncio.sleep(9.0)
            spooled = _spooled(stack.spool_dir)  # what waits for Redis, in order
            await asyncio.sleep(killed + 10.0 - time.monotonic())
            restarting = time.monotonic()
            await stack.redis.start()
        finally:
            stop.set()
        order = tasks.spawn(_published_after(stack, after, set(spooled)), name="stream-reader")
        running.append(order)
        await asyncio.wait_for(during, timeout=30)
        in_flight = await asyncio.wait_for(asyncio.gather(*streams), timeout=30)
        after_restart = [await chat(stack.gateway, key) for _ in range(5)]
        published = await asyncio.wait_for(order, timeout=30)
    finally:
        for future in running:
            future.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    # The in-flight streams were relayed whole and ended while Redis was down;
    # their events waited in the spool.
    for answer in in_flight:
        assert answer.status == 200
        assert answer.body.rstrip().endswith(b"data: [DONE]"), answer.body[-200:]
        assert killed < answer.ended < restarting
    assert {a.request_id for a in in_flight} <= set(spooled), spooled
    # Requests that came and went while Redis was down were refused, never relayed.
    inside = [a for a in refused if killed < a.started and a.ended < restarting]
    assert inside and {a.status for a in inside} == {503}, [a.status for a in inside]
    assert {a.status for a in refused} <= {200, 503}
    assert all(a.status == 200 for a in after_restart)
    # Once Redis is back the spool is published in the order it was written, and drains.
    assert [e for e in published if e in set(spooled)] == spooled
    deadline = time.monotonic() + 15
    while _spooled(stack.spool_dir):
        assert time.monotonic() < deadline, "the spool did not drain"
        await asyncio.sleep(0.1)

    answers = [*in_flight, *refused, *after_restart]
    emitted = await emitted_ids(caplog)
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    relayed = [a for a in answers if a.status == 200]
    assert (
        len(relayed) <= upstream_calls(stack.mock) <= len(relayed) + _sent_before_failure(answers)
    )
    await _exactly_once(stack, db, emitted)
    streamed = await db.fetch(
        "SELECT status, output_tokens FROM usage.records WHERE event_id = ANY($1::text[])",
        [a.request_id for a in in_flight],
    )
    assert len(streamed) == 4
    assert all(r["status"] == "ok" and r["output_tokens"] > 0 for r in streamed)


def _sent_before_failure(answers: list[Answer]) -> int:
    """Refused requests that began before the first refusal ended: the only ones
    that may have gone upstream with their hold (relay/optimistic_hold.py), which
    is cancelled once the hold fails; after it, every hold goes first."""
    refused = [a for a in answers if a.status == 503]
    if not refused:
        return 0
    first = min(a.ended for a in refused)
    return sum(1 for a in refused if a.started < first)


async def _last_entry(stack: FaultStack) -> bytes:
    """The id of the stream's last entry (0-0 when there is none)."""
    async with aioredis.from_url(stack.common.redis_url) as redis:
        last: Any = await redis.xrevrange(USAGE_STREAM, count=1)
    return last[0][0] if last else b"0-0"


async def _published_after(stack: FaultStack, after: bytes, wanted: set[str]) -> list[str]:
    """Event ids added to the stream after entry `after`, in stream order, until
    all of `wanted` have been seen."""
    redis = aioredis.from_url(stack.common.redis_url)
    seen: list[str] = []
    try:
        while not wanted <= set(seen):
            reply: Any = await redis.xread({USAGE_STREAM: after}, count=1000, block=500)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    seen.append(orjson.loads(fields[EVENT_FIELD])["event_id"])
                    after = entry_id
    finally:
        await redis.aclose()
    return seen
