"""DESIGN.md section 6, "billing stalled": holds stay, balances keep bounding spending.

Billing's consumer runs as a real process (`python -m services.billing` with
`TOLLGATE_CONSUMER=true`) and is killed with SIGKILL; billing's HTTP side
(balances and prices for the gateway) runs in process as an API-only
replica, so relaying goes on. The gateway, auth, usage (consuming as usual)
and the mock provider run in process on loopback; PostgreSQL and Redis are
real.

The stall is seconds long with a hold TTL of 1 s instead of minutes long with
15 minutes: the same case. Whether a hold may go depends on billing's
watermark, not on how long the stall lasts: the watermark stays where it was
when billing stopped, and every hold placed since expires after that, so a
stall of 5 TTLs keeps the holds exactly as one of 20 minutes (1.3 TTLs of
15 minutes) does. With the wall clock alone (the code before), each of the
stall's holds went 1 s after its request ended, and the next requests were
relayed on money already spent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from services.cli.reconcile import reconcile
from services.usage.app import create_app as create_usage
from services.usage.settings import Settings as UsageSettings
from shared.holds import held_amount, read_watermark
from shared.redis_batch import LINGER_SECONDS
from shared.settings import Common
from shared.stream_consumer import USAGE_STREAM
from tests.metering.fault_stack import (
    CLIENTS,
    Client,
    auth_and_gateway,
    chat,
    emitted_ids,
    funded_key,
    mock_provider,
    server,
    service_process,
)
from tests.processes import ServiceProcess

HOLD_TTL_MS = 1000
STALL_TTLS = 5  # how many hold TTLs the stall lasts after the balance is spent
FUNDS = Decimal("0.0005")  # a request may cost about 0.00003 USD: a few dozen calls
PER_CLIENT = 300  # a bound: the balance, not this, ends the load
CATCH_UP_SECONDS = 30.0
SHRUNK_SECONDS = 50 * LINGER_SECONDS  # an ended request's hold has shrunk by then


@dataclass(frozen=True, kw_only=True)
class StallStack:
    gateway: Client
    mock: TestServer
    billing_consumer: ServiceProcess
    common: Common


@pytest.fixture
async def stall_stack(
    common: Common, db: Any, redis: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[StallStack]:
    """The stack with billing's consumer as a process (started); stopped at the end,
    before the `db` and `redis` fixtures empty the tables and the Redis db."""
    async with AsyncExitStack() as exits:
        mock = await mock_provider(exits)
        consumer = await service_process(exits, "billing", common, TOLLGATE_CONSUMER="true")
        billing_url = await server(
            exits, create_billing(BillingSettings(common=common, consumer=False))
        )
        usage_url = await server(exits, create_usage(UsageSettings(common=common)))
        gateway = await auth_and_gateway(
            exits, common, billing_url=billing_url, usage_url=usage_url, hold_ttl_ms=HOLD_TTL_MS
        )
        yield StallStack(gateway=gateway, mock=mock, billing_consumer=consumer, common=common)


# ---------------------------------------------------------------- load


async def _chat(stack: StallStack, key: str) -> int:
    return (await chat(stack.gateway, key)).status


async def _until_refused(stack: StallStack, key: str, statuses: list[int]) -> None:
    """One client: requests until the balance refuses one."""
    for _ in range(PER_CLIENT):
        status = await _chat(stack, key)
        statuses.append(status)
        if status == 402:
            return


async def _for_a_while(stack: StallStack, key: str, seconds: float, statuses: list[int]) -> None:
    """One client: requests 50 ms apart for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses.append(await _chat(stack, key))
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- billing's progress


async def _redis_now_ms(redis: aioredis.Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def _caught_up(redis: aioredis.Redis) -> int:
    """Wait (bounded) until billing's watermark passes now (every event published
    so far is charged: lag 0); that watermark."""
    await asyncio.sleep(2 * LINGER_SECONDS)  # the events of the answers given are published
    now = await _redis_now_ms(redis)
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        watermark = await read_watermark(redis)
        if watermark is not None and watermark >= now:
            summary: Any = await redis.xpending(USAGE_STREAM, "billing")
            assert summary["pending"] == 0
            return watermark
        if time.monotonic() > deadline:
            raise AssertionError(f"billing not caught up: watermark {watermark}, now {now}")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- the test


async def test_billing_stopped_holds_stay_no_balance_is_overspent_and_each_event_is_charged_once(
    stall_stack: StallStack, db: Any, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stack = stall_stack
    account, key = await funded_key(stack, FUNDS)
    user_id = uuid.UUID(account.id)

    # Billing runs: a first call is charged, and its watermark passes it.
    assert await _chat(stack, key) == 200
    before_stall = await _caught_up(redis)

    await stack.billing_consumer.kill()  # billing stops; relaying goes on

    # Load until the balance is spent: several clients at once, then one at a
    # time until a request is refused with no other in flight and every ended
    # request's hold shrunk to its cost (the gateway shrinks it just after the
    # answer, at its next Redis write: a pause between requests lets it go first).
    statuses: list[int] = []
    await asyncio.gather(*(_until_refused(stack, key, statuses) for _ in range(CLIENTS)))
    for _ in range(PER_CLIENT):
        await asyncio.sleep(SHRUNK_SECONDS)
        status = await _chat(stack, key)
        statuses.append(status)
        if status == 402:
            break
    relayed = statuses.count(200)
    assert relayed >= 10, f"too few calls to mean anything: {statuses}"
    held = await held_amount(redis, user_id)
    assert held > 0

    # The stall goes on for several hold TTLs, under load: every hold stays, so
    # every request is refused; none is relayed on money already spent.
    during: list[int] = []
    await asyncio.gather(
        *(_for_a_while(stack, key, STALL_TTLS * HOLD_TTL_MS / 1000, during) for _ in range(CLIENTS))
    )
    assert len(during) >= 4 * STALL_TTLS, during
    assert set(during) == {402}, f"{during.count(200)} of {len(during)} relayed after the TTL"
    assert await held_amount(redis, user_id) == held
    watermark = await read_watermark(redis)
    assert watermark is not None and watermark <= before_stall + 1000  # it did not move
    assert await db.fetchval("SELECT count(*) FROM billing.usage_charges") == 1

    # Billing comes back: it catches up, charges every event once, settles every hold.
    await stack.billing_consumer.start()
    await _caught_up(redis)
    emitted = await emitted_ids(caplog)
    assert len(emitted) == len(set(emitted)) == 1 + len(statuses) + len(during)
    charged = {r["event_id"] for r in await db.fetch("SELECT event_id FROM billing.usage_charges")}
    assert charged == set(emitted)
    transactions = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM billing.ledger_transactions "
        "WHERE kind = 'usage_charge'"
    )
    assert transactions["n"] == transactions["events"] == 1 + relayed
    money = await db.fetchrow(
        "SELECT sum(cost) AS cost, sum(charged) AS charged, sum(written_off) AS written_off "
        "FROM billing.usage_charges"
    )
    # What was relayed never exceeded the balance: nothing had to be written off.
    assert money["written_off"] == 0
    assert money["cost"] == money["charged"] <= FUNDS
    balance = await db.fetchrow(
        "SELECT balance, floor FROM billing.accounts WHERE kind = 'user' AND user_id = $1",
        user_id,
    )
    assert balance["balance"] == FUNDS - money["charged"] >= balance["floor"]
    assert await held_amount(redis, user_id) == 0
    violations, notes = await reconcile(stack.common.database_url, stack.common.redis_url)
    assert violations == []
    assert [n for n in notes if "group billing" in n] == []
