"""`tollgate reconcile`: check the money invariants of DESIGN.md section 5.

    1. each usage event is charged exactly once;
    2. each account's balance equals the sum of its entries; all entries sum to 0;
    3. the charged event ids are exactly the events the gateways emitted
       (the usage service records every emitted event);
    4. no balance is below its floor;
    5. every hold is settled or expires, and open holds never exceed the balance.

It also names every unresolved dead letter (`shared.dead_letters`: a usage
event a consumer group set aside because it could not take it): each is an
event not charged or not recorded, so reconcile fails until an operator
retries or resolves it (`tollgate admin dead-letters`).

It reads the billing and usage schemas and Redis; it is an operator's tool,
the one place allowed to look across schemas. Each violation names the ids
involved. Run it when the consumers have caught up (it says when they have
not: events still in flight are not violations yet).
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from services.billing.reconcile import check_ledger
from shared import dead_letters, holds
from shared.stream_consumer import GROUPS, USAGE_STREAM

_SAMPLE = 20


def _ids(values: set[str]) -> str:
    shown = sorted(values)[:_SAMPLE]
    more = f" and {len(values) - _SAMPLE} more" if len(values) > _SAMPLE else ""
    return ", ".join(shown) + more


async def _in_flight(redis: aioredis.Redis) -> list[str]:
    notes: list[str] = []
    if not await redis.exists(USAGE_STREAM):
        return notes
    for group in await redis.xinfo_groups(USAGE_STREAM):
        name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
        if name in GROUPS and (group["pending"] or group.get("lag")):
            notes.append(
                f"group {name} has {group['pending']} pending and {group.get('lag')} undelivered "
                "events: run again once the consumers have caught up"
            )
    return notes


async def _dead_letters(redis: aioredis.Redis) -> list[str]:
    letters = await dead_letters.unresolved(redis)
    problems = [
        f"dead letter {letter.id}: group {letter.group} set aside stream entry "
        f"{letter.entry_id} (event {letter.event_id or 'without a usable id'}) at {letter.at}: "
        f"{letter.reason}; see `tollgate admin dead-letters list`, then retry or resolve it"
        for letter in letters[:_SAMPLE]
    ]
    if len(letters) > _SAMPLE:
        problems.append(f"... and {len(letters) - _SAMPLE} more unresolved dead letters")
    return problems


async def _charged_vs_emitted(connection: Any) -> list[str]:
    charged = {
        r["event_id"] for r in await connection.fetch("SELECT event_id FROM billing.usage_charges")
    }
    emitted = {r["event_id"] for r in await connection.fetch("SELECT event_id FROM usage.records")}
    problems = []
    if missing := emitted - charged:
        problems.append(
            f"invariants 1/3: {len(missing)} emitted events never charged: {_ids(missing)}"
        )
    if extra := charged - emitted:
        problems.append(
            f"invariant 3: {len(extra)} charged events no gateway emitted: {_ids(extra)}"
        )
    return problems


async def _holds(connection: Any, redis: aioredis.Redis) -> list[str]:
    problems: list[str] = []
    # open: the rule the place script purges by (against billing's watermark)
    cut = holds.purge_before(int(time.time() * 1000), await holds.read_watermark(redis))
    charged_holds = {
        r["hold_id"]
        for r in await connection.fetch(
            "SELECT hold_id FROM billing.usage_charges WHERE hold_id IS NOT NULL"
        )
    }
    async for key in redis.scan_iter(match="tg:{u:*}:holds", count=1000):
        text = key.decode() if isinstance(key, bytes) else str(key)
        user_id = uuid.UUID(text[len("tg:{u:") : text.index("}")])
        _, holds_key, expiries = holds.keys(user_id)
        open_amount = 0
        entries: Any = await redis.zrangebyscore(expiries, "-inf", "+inf", withscores=True)
        for hold_id, expires in entries:
            hold = hold_id.decode()
            if hold in charged_holds:
                problems.append(
                    f"invariant 5: hold {hold} of user {user_id} was charged but not settled"
                )
            elif expires >= cut:
                open_amount += int(await redis.hget(holds_key, hold) or 0)
        balance = await connection.fetchval(
            "SELECT balance - floor FROM billing.accounts WHERE kind = 'user' AND user_id = $1",
            user_id,
        )
        if open_amount and holds.from_nano(open_amount) > (balance or Decimal(0)):
            problems.append(
                f"invariant 5: open holds of user {user_id} ({holds.from_nano(open_amount)}) "
                f"exceed the spendable balance ({balance})"
            )
    return problems


async def reconcile(database_url: str, redis_url: str) -> tuple[list[str], list[str]]:
    """(violations, notes): violations break an invariant; notes say what is still in flight."""
    connection: Any = await asyncpg.connect(database_url)
    redis = aioredis.from_url(redis_url)
    try:
        notes = await _in_flight(redis)
        violations = await check_ledger(connection)
        violations += await _charged_vs_emitted(connection)
        violations += await _holds(connection, redis)
        violations += await _dead_letters(redis)
    finally:
        await connection.close()
        await redis.aclose()
    return violations, notes
