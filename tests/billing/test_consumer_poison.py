"""A poison event in the stream does not stop billing (issue 15, observation 1).

Every service runs on loopback with its real consumer; entries are put
straight into the stream (`XADD`), as a broken or hostile producer would. The
event PostgreSQL refuses is a real refusal: a trigger the test installs makes
billing's insert fail with a data exception for that one event id, the way a
value the decoder did not anticipate would. The operator's side runs as real
`tollgate` processes: `reconcile` fails naming each dead letter until
`admin dead-letters retry` and `resolve` deal with them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from services.cli.reconcile import reconcile
from shared import dead_letters
from shared.metrics import METRICS
from shared.stream_consumer import EVENT_FIELD, GROUPS, USAGE_STREAM
from tests.billing.conftest import EPOCH, add_price, fund, price, usage_event
from tests.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
POISON = "req_poison"
_REFUSE = f"""
CREATE FUNCTION billing.test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id = '{POISON}' THEN
        RAISE EXCEPTION 'value out of range for this test' USING ERRCODE = '22003';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_refuse_poison BEFORE INSERT ON billing.usage_charges
    FOR EACH ROW EXECUTE FUNCTION billing.test_refuse_poison();
"""
_FIX = """
DROP TRIGGER IF EXISTS test_refuse_poison ON billing.usage_charges;
DROP FUNCTION IF EXISTS billing.test_refuse_poison();
"""


@pytest.fixture
async def refusing_poison(db: Any) -> AsyncIterator[None]:
    await db.execute(_FIX + _REFUSE)
    try:
        yield
    finally:
        await db.execute(_FIX)


def _tollgate(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    common = stack.common
    env = {
        "TOLLGATE_ENV": "production",
        "DATABASE_URL": common.database_url,
        "REDIS_URL": common.redis_url,
        "TOLLGATE_INTERNAL_TOKEN": common.internal_token,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _caught_up(redis: aioredis.Redis, db: Any, charged: int, recorded: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        groups = {g["name"].decode(): g for g in await redis.xinfo_groups(USAGE_STREAM)}
        idle = all(
            name in groups and groups[name]["pending"] == 0 and groups[name]["lag"] == 0
            for name in GROUPS
        )
        done = (
            await db.fetchval("SELECT count(*) FROM billing.usage_charges") == charged
            and await db.fetchval("SELECT count(*) FROM usage.records") == recorded
        )
        if idle and done:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the consumers never caught up")


def _dead_lettered(stack: Stack, group: str) -> float:
    app = (stack.billing if group == "billing" else stack.usage).app
    assert app is not None
    value = app[METRICS].registry.get_sample_value(
        "tollgate_stream_events_dead_lettered_total", {"group": group}
    )
    return value or 0.0


async def test_a_poison_event_is_set_aside_and_billing_goes_on(
    stack: Stack, db: Any, pool: Any, redis: aioredis.Redis, refusing_poison: None
) -> None:
    await add_price(db, price(effective_from=EPOCH))
    user = uuid.uuid4()
    await fund(pool, user, "10")
    good = [usage_event(f"req_good_{n}", user_id=user, input_tokens=500_000) for n in range(3)]
    # What the gateway published for `{"model": "\u0000"}`, refused with 404.
    nul = {**usage_event("req_nul", user_id=user), "requested_model": "\x00"}
    nul.update(upstream_model=None, status="rejected", http_status=404, hold_id=None)
    poison = usage_event(POISON, user_id=user, input_tokens=500_000)
    entries = [good[0], nul, b"not json", b"[1, 2]", poison, good[1], good[2]]
    for entry in entries:
        raw = entry if isinstance(entry, bytes) else orjson.dumps(entry)
        await redis.xadd(USAGE_STREAM, {EVENT_FIELD: raw})

    await _caught_up(redis, db, charged=4, recorded=5)
    charged = await db.fetch("SELECT event_id, cost FROM billing.usage_charges")
    assert {row["event_id"]: row["cost"] for row in charged} == {
        "req_good_0": Decimal("0.5"),
        "req_good_1": Decimal("0.5"),
        "req_good_2": Decimal("0.5"),
        "req_nul": Decimal(0),
    }
    balance = await db.fetchval("SELECT balance FROM billing.accounts WHERE user_id = $1", user)
    assert balance == Decimal("8.5")
    letters = await dead_letters.unresolved(redis)
    by_group = sorted((letter.group, letter.event_id or "", letter.event) for letter in letters)
    assert by_group == [
        ("billing", "", b"[1, 2]"),
        ("billing", "", b"not json"),
        ("billing", POISON, orjson.dumps(poison)),
        ("usage", "", b"[1, 2]"),
        ("usage", "", b"not json"),
    ]
    poison_letter = next(letter for letter in letters if letter.event_id == POISON)
    assert poison_letter.reason.startswith("NumericValueOutOfRangeError: value out of range")
    assert (_dead_lettered(stack, "billing"), _dead_lettered(stack, "usage")) == (3, 2)

    violations, _ = await reconcile(stack.common.database_url, stack.common.redis_url)
    for letter in letters:
        assert any(f"dead letter {letter.id}:" in violation for violation in violations)
    checked = await asyncio.to_thread(_tollgate, stack, "reconcile")
    assert checked.returncode == 1
    assert f"VIOLATION: dead letter {poison_letter.id}: group billing" in checked.stdout
    listed = await asyncio.to_thread(_tollgate, stack, "admin", "dead-letters", "list")
    assert listed.returncode == 0 and "5 unresolved dead letter(s) of 5" in listed.stdout

    # The operator fixes the cause, retries the poison event, resolves the garbage.
    await db.execute(_FIX)
    retried = await asyncio.to_thread(
        _tollgate, stack, "admin", "dead-letters", "retry", poison_letter.id, "--note", "fixed"
    )
    assert retried.returncode == 0, retried.stderr
    await _caught_up(redis, db, charged=5, recorded=5)  # usage had it: a duplicate there
    garbage = [letter.id for letter in letters if letter.event_id is None]
    resolved = await asyncio.to_thread(
        _tollgate, stack, "admin", "dead-letters", "resolve", *garbage, "--note", "not events"
    )
    assert resolved.returncode == 0, resolved.stderr
    clean = await asyncio.to_thread(_tollgate, stack, "reconcile")
    assert clean.returncode == 0, clean.stdout
    assert await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", user
    ) == Decimal("8.0")
    again = await asyncio.to_thread(
        _tollgate, stack, "admin", "dead-letters", "resolve", garbage[0], "--note", "twice"
    )
    assert again.returncode == 1 and "resolved already" in again.stderr
