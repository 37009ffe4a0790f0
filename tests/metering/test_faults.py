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
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.auth.app import create_app as create_auth
from services.auth.settings import Settings as AuthSettings
from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from services.cli.reconcile import reconcile
from services.gateway.app import create_app as create_gateway
from services.gateway.settings import Settings as GatewaySettings
from services.mockprovider.app import create_app as create_mock
from services.mockprovider.keys import STATS
from services.mockprovider.settings import Settings as MockSettings
from services.usage.app import create_app as create_usage
from services.usage.settings import Settings as UsageSettings
from shared import tasks
from shared.request_id import HEADER as REQUEST_ID
from shared.settings import Common
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM
from tests.accounts import create_key, sign_up
from tests.conftest import INTERNAL_TOKEN, KEY_PEPPER, SECRET_KEYS
from tests.ports import free_ports
from tests.processes import RedisProcess, ServiceProcess
from tests.relay import add_mock_channels, add_prices, credit, usage_results

Client = TestClient[web.Request, web.Application]

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 50,
}
FUNDS = Decimal(100)  # a request costs about 0.00004 USD at worst: none refused for money
CLIENTS = 4
PER_CLIENT = 6000  # bound on each client loop; the faults, not this, end the load
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
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


def _service_env(service: str, port: int, common: Common) -> dict[str, str]:
    return {
        **os.environ,
        "TOLLGATE_ENV": "production",
        "TOLLGATE_DATA_DIR": str(common.data_dir),
        "DATABASE_URL": common.database_url,
        "REDIS_URL": common.redis_url,
        f"{service.upper()}_PORT": str(port),
        f"{service.upper()}_METRICS_PORT": "0",  # not scraped; free of the default port
        "TOLLGATE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        # Fixed: a restarted process is the same consumer and re-reads its pending entries.
        "TOLLGATE_INSTANCE": f"{service}-under-test",
        "LOG_LEVEL": "INFO",
    }


async def _server(exits: AsyncExitStack, app: web.Application) -> str:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    exits.push_async_callback(server.close)
    return str(server.make_url("")).rstrip("/")


async def _consumer_service(
    exits: AsyncExitStack, name: str, common: Common, as_process: bool
) -> tuple[str, ServiceProcess | None]:
    if not as_process:
        if name == "billing":
            return await _server(exits, create_billing(BillingSettings(common=common))), None
        return await _server(exits, create_usage(UsageSettings(common=common))), None
    (port,) = free_ports(1)
    process = ServiceProcess(
        name, port, env=_service_env(name, port, common), log=common.data_dir / f"{name}.log"
    )
    exits.push_async_callback(process.kill)
    await process.start()
    return process.url, process


@pytest.fixture
async def open_stack(database_url: str, db: Any, tmp_path: Path) -> AsyncIterator[OpenStack]:
    """Opens the stack: a private Redis, billing and usage (in process or as processes),
    auth, the mock provider and the gateway; everything is stopped (processes
    killed) at the end, before the `db` fixture empties the tables."""
    async with AsyncExitStack() as exits:

        async def open_(*, processes: frozenset[str], persistent: bool) -> FaultStack:
            (redis_port,) = free_ports(1)
            redis = RedisProcess(
                redis_port, tmp_path / "redis", persistent=persistent, log=tmp_path / "redis.log"
            )
            exits.push_async_callback(redis.kill)
            await redis.start()
            common = Common(
                dev=False,
                data_dir=tmp_path,
                database_url=database_url,
                redis_url=redis.url,
                internal_token=INTERNAL_TOKEN,
                host="127.0.0.1",
                port=0,
                log_level="INFO",
            )
            mock = TestServer(create_mock(MockSettings()), host="127.0.0.1")
            await mock.start_server()
            exits.push_async_callback(mock.close)
            billing_url, billing = await _consumer_service(
                exits, "billing", common, "billing" in processes
            )
            usage_url, usage = await _consumer_service(exits, "usage", common, "usage" in processes)
            auth_url = await _server(
                exits,
                create_auth(
                    AuthSettings(
                        common=common,
                        secret_keys=SECRET_KEYS,
                        key_pepper=KEY_PEPPER,
                        jwt_issuer="tollgate-test",
                        token_ttl_seconds=3600,
                        billing_url=billing_url,
                        login_failures_per_account=5,
                        login_failures_per_ip=20,
                        login_window_seconds=60,
                    )
                ),
            )
            spool_dir = tmp_path / "spool"
            gateway_settings = GatewaySettings(
                common=common,
                auth_url=auth_url,
                billing_url=billing_url,
                usage_url=usage_url,
                jwt_issuer="tollgate-test",
                trust_forwarded_for=False,
                key_cache_seconds=60,
                secret_keys=SECRET_KEYS,
                max_body_bytes=10 * 1024 * 1024,
                upstream_connect_timeout=5,
                upstream_first_byte_timeout=5,
                upstream_idle_timeout=5,
                spool_dir=spool_dir,
            )
            gateway: Client = TestClient(TestServer(create_gateway(gateway_settings)))
            await gateway.start_server()
            exits.push_async_callback(gateway.close)
            return FaultStack(
                gateway=gateway,
                mock=mock,
                redis=redis,
                billing=billing,
                usage=usage,
                common=common,
                spool_dir=spool_dir,
            )

        yield open_


# ---------------------------------------------------------------- set-up


async def _funded_key(stack: FaultStack) -> str:
    """Mock channels with prices, and an account funded with FUNDS; its API key."""
    await add_mock_channels(stack)
    await add_prices(stack)
    account = await sign_up(stack.gateway)
    await credit(stack, account.id, FUNDS)
    key: str = (await create_key(stack.gateway, account))["key"]
    return key


# ---------------------------------------------------------------- load


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    request_id: str
    started: float
    ended: float
    body: bytes


async def _chat(
    stack: FaultStack,
    key: str,
    *,
    body: dict[str, Any] = CHAT,
    headers: dict[str, str] | None = None,
    answering: asyncio.Event | None = None,
) -> Answer:
    """One chat completion; `answering` is set once the answer's headers arrived."""
    started = time.monotonic()
    async with stack.gateway.post(
        "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        timeout=REQUEST_TIMEOUT,
    ) as response:
        if answering is not None:
            answering.set()
        content = await response.read()
    return Answer(
        status=response.status,
        request_id=response.headers[REQUEST_ID],
        started=started,
        ended=time.monotonic(),
        body=content,
    )


async def _client_loop(
    stack: FaultStack, key: str, stop: asyncio.Event, out: list[Answer], pause: float = 0.0
) -> None:
    """One client sending chat completions until `stop` (or its bound), `pause` apart."""
    for _ in range(PER_CLIENT):
        if stop.is_set():
            return
        out.append(await _chat(stack, key))
        if pause:
            await asyncio.sleep(pause)


async def _under_load(
    stack: FaultStack, key: str, fault: Callable[[asyncio.Event], Awaitable[None]]
) -> list[Answer]:
    """CLIENTS loops of requests while `fault` runs; `fault` sets the event to end the load."""
    stop = asyncio.Event()
    answers: list[Answer] = []
    loops = [_client_loop(stack, key, stop, answers) for _ in range(CLIENTS)]

    async def faulting() -> None:
        try:
            await fault(stop)
        finally:
            stop.set()

    await asyncio.wait_for(asyncio.gather(faulting(), *loops), timeout=90)
    return answers


# ---------------------------------------------------------------- checks


async def _emitted(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The id of every usage event the gateway emitted (one per request with a user)."""
    return [u["request_id"] for u in await usage_results(caplog) if u["user_id"] is not None]


async def _ids(db: Any, table: str) -> set[str]:
    return {r["event_id"] for r in await db.fetch(f"SELECT event_id FROM {table}")}


async def _caught_up(stack: FaultStack, db: Any, count: int) -> list[str]:
    """Wait (bounded) until both groups handled `count` events and have nothing in
    flight; then reconcile's violations."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        charged = await db.fetchval("SELECT count(*) FROM billing.usage_charges")
        recorded = await db.fetchval("SELECT count(*) FROM usage.records")
        violations, notes = await reconcile(stack.common.database_url, stack.common.redis_url)
        if charged >= count and recorded >= count and not notes:
            return violations
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not caught up after {SETTLE_SECONDS} s: {charged} charged and {recorded} "
                f"recorded of {count}; {notes}; {violations}"
            )
        await asyncio.sleep(0.2)


async def _exactly_once(stack: FaultStack, db: Any, emitted: list[str]) -> None:
    """Every emitted event charged and recorded once, the money adding up, reconcile clean."""
    assert len(emitted) == len(set(emitted)), "the gateway emitted an event id twice"
    violations = await _caught_up(stack, db, len(emitted))
    assert violations == [], violations
    charged, recorded = await _ids(db, "billing.usage_charges"), await _ids(db, "usage.records")
    assert await db.fetchval("SELECT count(*) FROM billing.usage_charges") == len(emitted)
    assert await db.fetchval("SELECT count(*) FROM usage.records") == len(emitted)
    assert charged == recorded == set(emitted)
    transactions = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM billing.ledger_transactions "
        "WHERE kind = 'usage_charge'"
    )
    paid = await db.fetchval(
        "SELECT count(*) FROM billing.usage_charges WHERE transaction_id IS NOT NULL"
    )
    assert transactions["n"] == transactions["events"] == paid > 0
    balance = await db.fetchval("SELECT balance FROM billing.accounts WHERE kind = 'user'")
    spent = await db.fetchval("SELECT sum(charged) FROM billing.usage_charges")
    assert balance == FUNDS - spent


def _upstream_calls(stack: FaultStack) -> int:
    requests: int = stack.mock.app[STATS].requests
    return requests


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
    key = await _funded_key(stack)
    warm = await _chat(stack, key)
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

    answers = await _under_load(stack, key, kill_three_times)
    assert process.kills == 3
    # At least one kill caught the consumer with a batch delivered and not acknowledged.
    assert sum(left_pending) > 0, left_pending
    # The load ran from before the first kill to after the last restart.
    assert min(a.started for a in answers) < kills[0] < kills[-1] < max(a.started for a in answers)
    assert [a.status for a in answers if a.status != 200] == [], f"seed {rng_seed}"
    assert len(answers) >= 100, f"too little load to mean anything: {len(answers)} requests"
    emitted = await _emitted(caplog)
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    await _exactly_once(stack, db, emitted)
    assert _upstream_calls(stack) == len(emitted)


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
    key = await _funded_key(stack)
    warm = await _chat(stack, key)
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

    answers = await _under_load(stack, key, kill_redis_for_a_second)
    killed, restarted = outage
    statuses = {a.status for a in answers}
    assert statuses <= {200, 503}, statuses
    assert any(a.started < restarted and a.ended > killed for a in answers)
    assert any(a.started > restarted and a.status == 200 for a in answers)
    # Every answer, refused or not, was one usage event; the relayed ones were
    # each one upstream call, and nothing reached the upstream unmetered.
    emitted = await _emitted(caplog)
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    relayed = [a for a in answers if a.status == 200]
    assert _upstream_calls(stack) == len(relayed)
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
    key = await _funded_key(stack)
    warm = await _chat(stack, key)
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
                _chat(stack, key, body=streaming, headers=slow, answering=event),
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
            *(_client_loop(stack, key, stop, refused, pause=0.05) for _ in range(2))
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
        after_restart = [await _chat(stack, key) for _ in range(5)]
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
    emitted = await _emitted(caplog)
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    relayed = [a for a in answers if a.status == 200]
    assert _upstream_calls(stack) == len(relayed)
    await _exactly_once(stack, db, emitted)
    streamed = await db.fetch(
        "SELECT status, output_tokens FROM usage.records WHERE event_id = ANY($1::text[])",
        [a.request_id for a in in_flight],
    )
    assert len(streamed) == 4
    assert all(r["status"] == "ok" and r["output_tokens"] > 0 for r in streamed)


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
