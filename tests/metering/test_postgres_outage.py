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

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.mockprovider.keys import STATS
from shared import migrations
from shared.settings import Common
from shared.stream_consumer import USAGE_STREAM
from tests.conftest import common_for
from tests.metering.fault_stack import (
    Client,
    auth_and_gateway,
    chat,
    emitted_ids,
    exactly_once,
    funded_key,
    mock_provider,
    private_redis,
    service_process,
    under_load,
    upstream_calls,
)
from tests.ports import free_ports
from tests.processes import PostgresProcess, ServiceProcess

FUNDS = Decimal(100)  # a request costs about 0.00004 USD at worst: none refused for money
PER_CLIENT = 3000  # bound on each client loop; the outage, not this, ends the load
PAUSE = 0.01  # between a client's requests: a load, not a flood of the two cores
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
            pg_port, auth_port = free_ports(2)
            postgres = PostgresProcess(pg_port, pg_dir)
            exits.push_async_callback(postgres.stop)
            await postgres.start()
            await migrations.ensure_database(postgres.url)
            await migrations.apply(postgres.url)
            redis = await private_redis(exits, tmp_path, persistent=False)
            common = common_for(tmp_path, postgres.url, redis.url)
            # Billing and usage ask auth: its port is chosen before they start.
            auth_url = f"http://127.0.0.1:{auth_port}"
            mock = await mock_provider(exits)
            billing = await service_process(exits, "billing", common, AUTH_URL=auth_url)
            usage = await service_process(exits, "usage", common, AUTH_URL=auth_url)
            gateway = await auth_and_gateway(
                exits, common, billing_url=billing.url, usage_url=usage.url, auth_port=auth_port
            )
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


async def test_postgres_down_ten_seconds_under_load_relays_on_and_charges_every_event_once(
    outage_stack: OutageStack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = outage_stack
    _, key = await funded_key(stack, FUNDS)
    # The key's first use asks auth (PostgreSQL); later ones hit the gateway's cache.
    warm = await chat(stack.gateway, key)
    assert warm.status == 200, warm.body
    stack.mock.app[STATS].clear()

    outage: list[float] = []
    logs = {p.name: _log_size(p) for p in (stack.billing, stack.usage)}
    backoffs: dict[str, str] = {}
    waiting: dict[str, int] = {}

    async def restart_postgres(stop: asyncio.Event) -> None:
        await asyncio.sleep(BEFORE)
        await stack.postgres.stop()
        outage.append(time.monotonic())
        await asyncio.sleep(OUTAGE)
        # What the consumers logged while PostgreSQL was down.
        backoffs.update({p.name: _log_since(p, logs[p.name]) for p in (stack.billing, stack.usage)})
        waiting.update(await _waiting(stack))
        await stack.postgres.start()
        outage.append(time.monotonic())
        await asyncio.sleep(AFTER)

    answers = await under_load(
        stack.gateway,
        key,
        restart_postgres,
        requests=PER_CLIENT,
        pause=PAUSE,
        bound_seconds=OUTAGE + 40,
    )
    stopped, restarted = outage

    # Relaying went on: every request answered 200, those wholly inside the outage too.
    assert [a.status for a in answers if a.status != 200] == []
    inside = [a for a in answers if stopped < a.started and a.ended < restarted]
    assert len(inside) >= 100, f"too little load inside the outage: {len(inside)} requests"
    assert any(a.started > restarted for a in answers)
    assert upstream_calls(stack.mock) == len(answers)

    # The consumers backed off and lived on.
    for name, logged in backoffs.items():
        assert BACKING_OFF in logged, f"{name} logged no back-off while PostgreSQL was down"
    assert stack.billing.running and stack.usage.running
    # What came in meanwhile waited in the stream: delivered and pending, or not yet read.
    assert set(waiting) == {"billing", "usage"} and min(waiting.values()) > 0, waiting
    assert stack.billing.starts == stack.usage.starts == 1

    # Every event the gateway emitted charged once and recorded once.
    emitted = await emitted_ids(caplog)
    assert set(emitted) == {warm.request_id} | {a.request_id for a in answers}
    db: Any = await asyncpg.connect(stack.common.database_url)
    try:
        paid = await exactly_once(
            db, stack.common, emitted, funds=FUNDS, settle_seconds=SETTLE_SECONDS
        )
        assert paid == len(emitted)
        records = await db.fetch("SELECT http_status FROM usage.records")
        assert {r["http_status"] for r in records} == {200}
    finally:
        await db.close()
