"""DESIGN.md section 6, "Postgres restarted under load": PostgreSQL stopped for
ten seconds while clients keep sending requests.

Relaying goes on (no PostgreSQL on the hot path: keys come from the gateway's
cache, channels and prices from its tables in memory, holds and usage events
from Redis); billing and usage back off and keep their entries pending; once
PostgreSQL is back every event the gateway emitted is charged once and
recorded once, and `reconcile` finds nothing wrong. (A key's first use asks
auth, which reads PostgreSQL: the test's key is used once before the outage.)

The PostgreSQL is a private one (`tests.processes.PostgresProcess`, started
as `tollgate dev` starts one), never the machine's cluster that other tests
use; so is Redis. Billing and usage run as real processes (`python -m
services.<name>`, configured through the environment); the gateway, auth and
the mock provider run in process on loopback, as in the `stack` fixture.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.auth.app import create_app as create_auth
from services.auth.settings import Settings as AuthSettings
from services.cli.reconcile import reconcile
from services.gateway.app import create_app as create_gateway
from services.gateway.settings import Settings as GatewaySettings
from services.mockprovider.app import create_app as create_mock
from services.mockprovider.keys import STATS
from services.mockprovider.settings import Settings as MockSettings
from shared import migrations
from shared.request_id import HEADER as REQUEST_ID
from shared.settings import Common
from shared.stream_consumer import USAGE_STREAM
from tests.accounts import create_key, sign_up
from tests.conftest import INTERNAL_TOKEN, KEY_PEPPER, SECRET_KEYS
from tests.ports import free_ports
from tests.processes import PostgresProcess, RedisProcess, ServiceProcess
from tests.relay import add_mock_channels, add_prices, credit, usage_results

Client = TestClient[web.Request, web.Application]

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 50,
}
FUNDS = Decimal(100)  # a request costs about 0.00004 USD at worst: none refused for money
CLIENTS = 4
PER_CLIENT = 3000  # bound on each client loop; the outage, not this, ends the load
PAUSE = 0.01  # between a client's requests: a load, not a flood of the two cores
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
BEFORE, OUTAGE, AFTER = 2.0, 10.0, 3.0  # seconds of load around the outage
SETTLE_SECONDS = 25.0  # below the consumers' claim idle time (30 s): no XAUTOCLAIM rescue
BACKING_OFF = '"msg":"stream consumer backing off"'


@dataclass(frozen=True, kw_only=True)
class OutageStack:
    gateway: Client
    mock: TestServer
    postgres: PostgresProcess
    billing: ServiceProcess
    usage: ServiceProcess
    common: Common


def _service_env(service: str, common: Common, auth_url: str) -> dict[str, str]:
    port, metrics_port = free_ports(2)
    return {
        **os.environ,
        "TOLLGATE_ENV": "production",
        "TOLLGATE_DATA_DIR": str(common.data_dir),
        "DATABASE_URL": common.database_url,
        "REDIS_URL": common.redis_url,
        f"{service.upper()}_PORT": str(port),
        f"{service.upper()}_METRICS_PORT": str(metrics_port),
        "TOLLGATE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "TOLLGATE_INSTANCE": f"{service}-under-test",
        "AUTH_URL": auth_url,
        "LOG_LEVEL": "INFO",
    }


async def _server(exits: AsyncExitStack, app: web.Application, port: int = 0) -> str:
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    exits.push_async_callback(server.close)
    return str(server.make_url("")).rstrip("/")


async def _consumer(
    exits: AsyncExitStack, name: str, common: Common, auth_url: str
) -> ServiceProcess:
    env = _service_env(name, common, auth_url)
    port = int(env[f"{name.upper()}_PORT"])
    process = ServiceProcess(name, port, env=env, log=common.data_dir / f"{name}.log")
    exits.push_async_callback(process.kill)
    await process.start()
    return process


@pytest.fixture
async def outage_stack(tmp_path: Path) -> AsyncIterator[OutageStack]:
    """A private PostgreSQL (migrated) and Redis, billing and usage as processes,
    auth, the mock provider and the gateway in process; all stopped at the end
    and the PostgreSQL directory removed."""
    # Not under tmp_path: the `postgres` user must be able to enter it.
    pg_dir = Path(tempfile.mkdtemp(prefix="tollgate-pg-outage-"))
    os.chmod(pg_dir, 0o755)
    try:
        async with AsyncExitStack() as exits:
            pg_port, redis_port, auth_port = free_ports(3)
            postgres = PostgresProcess(pg_port, pg_dir)
            exits.push_async_callback(postgres.stop)
            await postgres.start()
            await migrations.ensure_database(postgres.url)
            await migrations.apply(postgres.url)
            redis = RedisProcess(
                redis_port, tmp_path / "redis", persistent=False, log=tmp_path / "redis.log"
            )
            exits.push_async_callback(redis.kill)
            await redis.start()
            common = Common(
                dev=False,
                data_dir=tmp_path,
                database_url=postgres.url,
                redis_url=redis.url,
                internal_token=INTERNAL_TOKEN,
                host="127.0.0.1",
                port=0,
                log_level="INFO",
            )
            auth_url = f"http://127.0.0.1:{auth_port}"
            mock = TestServer(create_mock(MockSettings()), host="127.0.0.1")
            await mock.start_server()
            exits.push_async_callback(mock.close)
            billing = await _consumer(exits, "billing", common, auth_url)
            usage = await _consumer(exits, "usage", common, auth_url)
            auth_settings = AuthSettings(
                common=common,
                secret_keys=SECRET_KEYS,
                key_pepper=KEY_PEPPER,
                jwt_issuer="tollgate-test",
                token_ttl_seconds=3600,
                billing_url=billing.url,
                login_failures_per_account=5,
                login_failures_per_ip=20,
                login_window_seconds=60,
            )
            await _server(exits, create_auth(auth_settings), auth_port)
            gateway_settings = GatewaySettings(
                common=common,
                auth_url=auth_url,
                billing_url=billing.url,
                usage_url=usage.url,
                jwt_issuer="tollgate-test",
                trust_forwarded_for=False,
                key_cache_seconds=60,  # above the test's length: the key stays cached
                secret_keys=SECRET_KEYS,
                max_body_bytes=10 * 1024 * 1024,
                upstream_connect_timeout=5,
                upstream_first_byte_timeout=5,
                upstream_idle_timeout=5,
                spool_dir=tmp_path / "spool",
            )
            gateway: Client = TestClient(TestServer(create_gateway(gateway_settings)))
            await gateway.start_server()
            exits.push_async_callback(gateway.close)
            yield OutageStack(
                gateway=gateway,
                mock=mock,
                postgres=postgres,
                billing=billing,
                usage=usage,
                common=common,
            )
    finally:
        shutil.rmtree(pg_dir, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    request_id: str
    started: float
    ended: float
    body: bytes


async def _chat(stack: OutageStack, key: str) -> Answer:
    started = time.monotonic()
    async with stack.gateway.post(
        "/v1/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {key}"},
        timeout=REQUEST_TIMEOUT,
    ) as response:
        body = await response.read()
    return Answer(response.status, response.headers[REQUEST_ID], started, time.monotonic(), body)


async def _client(stack: OutageStack, key: str, stop: asyncio.Event, out: list[Answer]) -> None:
    for _ in range(PER_CLIENT):
        if stop.is_set():
            return
        out.append(await _chat(stack, key))
        await asyncio.sleep(PAUSE)


async def _waiting(stack: OutageStack) -> dict[str, int]:
    """Per consumer group: entries not acknowledged (pending plus not yet delivered)."""
    async with aioredis.from_url(stack.common.redis_url) as redis:
        groups: Any = await redis.xinfo_groups(USAGE_STREAM)
    return {g["name"].decode(): int(g["pending"]) + int(g["lag"] or 0) for g in groups}


def _log_size(process: ServiceProcess) -> int:
    return process.log.stat().st_size


def _log_since(process: ServiceProcess, offset: int) -> str:
    with process.log.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


async def _caught_up(stack: OutageStack, db: Any, count: int) -> list[str]:
    """Wait (bounded) until both groups handled `count` events and have nothing
    in flight; then reconcile's violations."""
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


async def test_postgres_down_ten_seconds_under_load_relays_on_and_charges_every_event_once(
    outage_stack: OutageStack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = outage_stack
    await add_mock_channels(stack)
    await add_prices(stack)
    account = await sign_up(stack.gateway)
    await credit(stack, account.id, FUNDS)
    key: str = (await create_key(stack.gateway, account))["key"]
    # The key's first use asks auth (PostgreSQL); later ones hit the gateway's cache.
    warm = await _chat(stack, key)
    assert warm.status == 200, warm.body
    stack.mock.app[STATS].clear()

    answers: list[Answer] = []
    stop = asyncio.Event()
    outage: list[float] = []
    logs = {p.name: _log_size(p) for p in (stack.billing, stack.usage)}
    backoffs: dict[str, str] = {}
    waiting: dict[str, int] = {}

    async def restart_postgres() -> None:
        try:
            await asyncio.sleep(BEFORE)
            await stack.postgres.stop()
            outage.append(time.monotonic())
            await asyncio.sleep(OUTAGE)
            # What the consumers logged while PostgreSQL was down.
            backoffs.update(
                {p.name: _log_since(p, logs[p.name]) for p in (stack.billing, stack.usage)}
            )
            waiting.update(await _waiting(stack))
            await stack.postgres.start()
            outage.append(time.monotonic())
            await asyncio.sleep(AFTER)
        finally:
            stop.set()

    clients = [_client(stack, key, stop, answers) for _ in range(CLIENTS)]
    await asyncio.wait_for(asyncio.gather(restart_postgres(), *clients), timeout=OUTAGE + 40)
    stopped, restarted = outage

    # Relaying went on: every request answered 200, those wholly inside the outage too.
    assert [a.status for a in answers if a.status != 200] == []
    inside = [a for a in answers if stopped < a.started and a.ended < restarted]
    assert len(inside) >= 100, f"too little load inside the outage: {len(inside)} requests"
    assert any(a.started > restarted for a in answers)
    assert stack.mock.app[STATS].requests == len(answers)

    # The consumers backed off and lived on.
    for name, logged in backoffs.items():
        assert BACKING_OFF in logged, f"{name} logged no back-off while PostgreSQL was down"
    assert stack.billing.running and stack.usage.running
    # What came in meanwhile waited in the stream: delivered and pending, or not yet read.
    assert set(waiting) == {"billing", "usage"} and min(waiting.values()) > 0, waiting
    assert stack.billing.starts == stack.usage.starts == 1

    # Every event the gateway emitted charged once and recorded once.
    emitted = [u["request_id"] for u in await usage_results(caplog) if u["user_id"] is not None]
    assert len(emitted) == len(set(emitted))
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    db: Any = await asyncpg.connect(stack.common.database_url)
    try:
        violations = await _caught_up(stack, db, len(emitted))
        assert violations == [], violations
        charges = await db.fetch(
            "SELECT event_id, transaction_id, charged FROM billing.usage_charges"
        )
        records = await db.fetch("SELECT event_id, http_status FROM usage.records")
        assert sorted(r["event_id"] for r in charges) == sorted(emitted)
        assert sorted(r["event_id"] for r in records) == sorted(emitted)
        assert {r["http_status"] for r in records} == {200}
        transactions = await db.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT event_id) AS events "
            "FROM billing.ledger_transactions WHERE kind = 'usage_charge'"
        )
        paid = sum(1 for r in charges if r["transaction_id"] is not None)
        assert transactions["n"] == transactions["events"] == paid == len(emitted)
        balance = await db.fetchval("SELECT balance FROM billing.accounts WHERE kind = 'user'")
        assert balance == FUNDS - sum(r["charged"] for r in charges)
    finally:
        await db.close()
