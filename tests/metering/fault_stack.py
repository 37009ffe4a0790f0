"""A stack for the fault tests of DESIGN.md section 6: real consumer processes,
a private Redis, under load.

What `test_faults`, `test_postgres_outage` and `test_billing_stalled` set up
alike. The services a test kills run as real processes (`python -m
services.<name>`, configured through the environment as in production); the
gateway, auth and the mock provider run in process on loopback with the
`stack` fixture's settings (but a 5 s upstream idle timeout). Clients load
the gateway with chat completions while a test's fault runs; `exactly_once`
then waits (bounded) for the consumers to catch up and checks the money.

Rules: every server and process started here is registered on the caller's
`AsyncExitStack` before it starts, so it is stopped (processes killed) even
when a start fails; every wait is bounded. What a test breaks, when, and what
it asserts of the answers stays in the test's own file.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.auth.app import create_app as create_auth
from services.cli.reconcile import reconcile
from services.gateway.app import create_app as create_gateway
from services.mockprovider.app import create_app as create_mock
from services.mockprovider.keys import STATS
from services.mockprovider.settings import Settings as MockSettings
from shared.request_id import HEADER as REQUEST_ID
from shared.settings import Common
from tests.accounts import Account, create_key, sign_up
from tests.conftest import INTERNAL_TOKEN, auth_settings_for, gateway_settings_for
from tests.ports import free_ports
from tests.processes import RedisProcess, ServiceProcess
from tests.relay import Relayable, add_mock_channels, add_prices, credit, usage_results

Client = TestClient[web.Request, web.Application]

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 50,
}
CLIENTS = 4
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)


# ---------------------------------------------------------------- servers and processes


def service_env(service: str, port: int, common: Common, **extra: str) -> dict[str, str]:
    """A service's environment as an operator gives it, plus `extra` variables."""
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
        **extra,
    }


async def service_process(
    exits: AsyncExitStack, service: str, common: Common, **extra_env: str
) -> ServiceProcess:
    """`python -m services.<service>` on a free port, started; its log in the data directory."""
    (port,) = free_ports(1)
    env = service_env(service, port, common, **extra_env)
    process = ServiceProcess(service, port, env=env, log=common.data_dir / f"{service}.log")
    exits.push_async_callback(process.kill)
    await process.start()
    return process


async def private_redis(
    exits: AsyncExitStack, directory: Path, *, persistent: bool
) -> RedisProcess:
    """A `redis-server` of the test's own, in `directory`/redis, started."""
    (port,) = free_ports(1)
    redis = RedisProcess(
        port, directory / "redis", persistent=persistent, log=directory / "redis.log"
    )
    exits.push_async_callback(redis.kill)
    await redis.start()
    return redis


async def server(exits: AsyncExitStack, app: web.Application, port: int = 0) -> str:
    """`app` served on loopback (`port` 0: a free one); its base URL."""
    test_server = TestServer(app, host="127.0.0.1", port=port)
    await test_server.start_server()
    exits.push_async_callback(test_server.close)
    return str(test_server.make_url("")).rstrip("/")


async def mock_provider(exits: AsyncExitStack) -> TestServer:
    mock = TestServer(create_mock(MockSettings()), host="127.0.0.1")
    await mock.start_server()
    exits.push_async_callback(mock.close)
    return mock


async def auth_and_gateway(
    exits: AsyncExitStack,
    common: Common,
    *,
    billing_url: str,
    usage_url: str,
    auth_port: int = 0,
    hold_ttl_ms: int | None = None,
) -> Client:
    """Auth (on `auth_port`) and the gateway in process; a client of the gateway.

    The gateway caches a key for 60 s, longer than any fault test: after its
    first use a key is never asked of auth (nor of PostgreSQL) again.
    """
    auth_url = await server(exits, create_auth(auth_settings_for(common, billing_url)), auth_port)
    settings = gateway_settings_for(
        common,
        auth_url=auth_url,
        billing_url=billing_url,
        usage_url=usage_url,
        upstream_idle_timeout=5,
    )
    if hold_ttl_ms is not None:
        settings = replace(settings, hold_ttl_ms=hold_ttl_ms)
    gateway: Client = TestClient(TestServer(create_gateway(settings)))
    await gateway.start_server()
    exits.push_async_callback(gateway.close)
    return gateway


# ---------------------------------------------------------------- an account


async def funded_key(stack: Relayable, funds: Decimal) -> tuple[Account, str]:
    """Mock channels with prices, and an account credited with `funds`; it and its API key."""
    await add_mock_channels(stack)
    await add_prices(stack)
    account = await sign_up(stack.gateway)
    await credit(stack, account.id, funds)
    key: str = (await create_key(stack.gateway, account))["key"]
    return account, key


# ---------------------------------------------------------------- load


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    request_id: str
    started: float
    ended: float
    body: bytes


async def chat(
    gateway: Client,
    key: str,
    *,
    body: dict[str, Any] = CHAT,
    headers: dict[str, str] | None = None,
    answering: asyncio.Event | None = None,
) -> Answer:
    """One chat completion; `answering` is set once the answer's headers arrived."""
    started = time.monotonic()
    async with gateway.post(
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


async def client_loop(
    gateway: Client,
    key: str,
    stop: asyncio.Event,
    out: list[Answer],
    *,
    requests: int,
    pause: float = 0.0,
) -> None:
    """One client sending chat completions until `stop` (or `requests` of them), `pause` apart."""
    for _ in range(requests):
        if stop.is_set():
            return
        out.append(await chat(gateway, key))
        if pause:
            await asyncio.sleep(pause)


async def under_load(
    gateway: Client,
    key: str,
    fault: Callable[[asyncio.Event], Awaitable[None]],
    *,
    requests: int,
    pause: float = 0.0,
    bound_seconds: float,
) -> list[Answer]:
    """CLIENTS client loops while `fault` runs; the load ends when `fault` returns (or
    sets the event it is given), or when each client has sent `requests`."""
    stop = asyncio.Event()
    answers: list[Answer] = []
    loops = [
        client_loop(gateway, key, stop, answers, requests=requests, pause=pause)
        for _ in range(CLIENTS)
    ]

    async def faulting() -> None:
        try:
            await fault(stop)
        finally:
            stop.set()

    await asyncio.wait_for(asyncio.gather(faulting(), *loops), timeout=bound_seconds)
    return answers


def upstream_calls(mock: TestServer) -> int:
    """Requests the mock provider received since its counts were last cleared."""
    requests: int = mock.app[STATS].requests
    return requests


# ---------------------------------------------------------------- checks


async def emitted_ids(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The id of every usage event the gateway emitted (one per request with a user)."""
    return [u["request_id"] for u in await usage_results(caplog) if u["user_id"] is not None]


async def caught_up(db: Any, common: Common, count: int, settle_seconds: float) -> list[str]:
    """Wait (bounded) until both groups handled `count` events and have nothing in
    flight; then reconcile's violations."""
    deadline = time.monotonic() + settle_seconds
    while True:
        charged = await db.fetchval("SELECT count(*) FROM billing.usage_charges")
        recorded = await db.fetchval("SELECT count(*) FROM usage.records")
        violations, notes = await reconcile(common.database_url, common.redis_url)
        if charged >= count and recorded >= count and not notes:
            return violations
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not caught up after {settle_seconds} s: {charged} charged and {recorded} "
                f"recorded of {count}; {notes}; {violations}"
            )
        await asyncio.sleep(0.2)


async def exactly_once(
    db: Any, common: Common, emitted: list[str], *, funds: Decimal, settle_seconds: float
) -> int:
    """Every emitted event charged and recorded once, reconcile clean, one ledger
    transaction per paid charge and the user's balance `funds` less what was
    charged; how many charges were paid (a ledger transaction each)."""
    assert len(emitted) == len(set(emitted)), "the gateway emitted an event id twice"
    violations = await caught_up(db, common, len(emitted), settle_seconds)
    assert violations == [], violations
    charged, recorded = await _ids(db, "billing.usage_charges"), await _ids(db, "usage.records")
    assert await db.fetchval("SELECT count(*) FROM billing.usage_charges") == len(emitted)
    assert await db.fetchval("SELECT count(*) FROM usage.records") == len(emitted)
    assert charged == recorded == set(emitted)
    transactions = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM billing.ledger_transactions "
        "WHERE kind = 'usage_charge'"
    )
    paid: int = await db.fetchval(
        "SELECT count(*) FROM billing.usage_charges WHERE transaction_id IS NOT NULL"
    )
    assert transactions["n"] == transactions["events"] == paid
    balance = await db.fetchval("SELECT balance FROM billing.accounts WHERE kind = 'user'")
    spent = await db.fetchval("SELECT sum(charged) FROM billing.usage_charges")
    assert balance == funds - spent
    return paid


async def _ids(db: Any, table: str) -> set[str]:
    return {r["event_id"] for r in await db.fetch(f"SELECT event_id FROM {table}")}
