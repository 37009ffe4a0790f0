"""A key's spend budget (DESIGN 13), enforced with the hold on the real stack.

The budget is a counter per key and period in Redis, taken in the hold's own
script: requests running at once cannot together spend more than it; a
refusal takes nothing; a new period starts from a counter of its own, and a
lost counter is seeded from the usage service's records.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared import key_budgets
from shared.holds import from_nano, keys
from shared.limits import Kind
from shared.stream_consumer import USAGE_STREAM
from tests.conftest import Stack
from tests.gateway.limited import CHAT, LimitedKey, limited_key

BIG = {**CHAT, "max_tokens": 1000}  # gpt-4o-mini: a worst case of about 0.0006 USD


async def _set_budget(stack: Stack, key: LimitedKey, usd: str | None, period: str = "day") -> None:
    budget = None if usd is None else {"usd": usd, "period": period}
    response = await stack.gateway.patch(
        f"/api/keys/{key.key_id}", json={"budget": budget}, headers=key.account.headers
    )
    assert response.status == 200, await response.text()


def _counter(key: LimitedKey, now: datetime | None = None) -> str:
    period = key_budgets.period_id("day", now or datetime.now(UTC))
    return key_budgets.counter_key(key.user_id, key.key_id, period)


async def _chat(stack: Stack, key: LimitedKey, body: dict[str, Any] = BIG) -> tuple[int, Any]:
    response = await stack.gateway.post("/v1/chat/completions", json=body, headers=key.headers)
    return response.status, await response.json()


async def _recorded(db: Any, count: int) -> None:
    """Wait (up to 15 s) until billing and usage both have `count` events."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        charged = await db.fetchval("SELECT count(*) FROM billing.usage_charges")
        recorded = await db.fetchval("SELECT count(*) FROM usage.records")
        if charged >= count and recorded >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{charged} charged, {recorded} recorded of {count}")


async def _state(redis: Any, key: LimitedKey) -> dict[str, Any]:
    acct, holds, expiries = keys(key.user_id)
    return {
        "acct": await redis.hgetall(acct),
        "holds": await redis.hgetall(holds),
        "hexp": await redis.zrange(expiries, 0, -1, withscores=True),
        "budget": await redis.hgetall(_counter(key)),
        "stream": await redis.xlen(USAGE_STREAM),
    }


async def test_100_concurrent_calls_cannot_overspend_a_budget(
    stack: Stack, db: Any, redis: Any
) -> None:
    key = await limited_key(stack, db)
    await _set_budget(stack, key, "0.01")
    statuses = await asyncio.gather(*(_chat(stack, key) for _ in range(100)))
    codes = [status for status, _ in statuses]
    assert set(codes) <= {200, 402}, set(codes)
    assert 0 < codes.count(200) < 100
    refusal = next(body for status, body in statuses if status == 402)
    assert refusal["error"]["code"] == "budget_exceeded"
    assert "0.01 USD per day (UTC)" in refusal["error"]["message"]
    assert "left" in refusal["error"]["message"]
    await _recorded(db, codes.count(200))
    charged = await db.fetchval(
        "SELECT coalesce(sum(charged), 0) FROM billing.usage_charges WHERE user_id = $1",
        key.user_id,
    )
    assert 0 < charged <= Decimal("0.01")
    counter = await redis.hgetall(_counter(key))
    assert int(counter[b"held"]) == 0 and not [f for f in counter if f.startswith(b"h:")]
    # spent is the requests' costs, each rounded up to a nano-USD
    assert charged <= from_nano(int(counter[b"spent"])) <= charged + from_nano(codes.count(200))
    # the owner sees it: spent from the usage records
    response = await stack.gateway.get(
        f"/api/usage/keys/{key.key_id}/spend?period=day", headers=key.account.headers
    )
    shown = await response.json()
    assert Decimal(shown["spent"]) == await db.fetchval(
        "SELECT sum(cost) FROM usage.records WHERE key_id = $1", key.key_id
    )
    assert shown["period"] == "day" and shown["since"].endswith("T00:00:00Z")


async def test_a_refused_call_leaves_every_counter_untouched(
    stack: Stack, db: Any, redis: Any
) -> None:
    key = await limited_key(stack, db, key_limits={"rpm": 100, "tpm": 100000, "concurrency": 5})
    await _set_budget(stack, key, "0.001")
    assert (await _chat(stack, key))[0] == 200  # spends about 0.00001, holds no more
    await asyncio.sleep(0.3)
    before = await _state(redis, key)
    tokens_before = await redis.get(key.redis_key(Kind.TPM))
    status, body = await _chat(stack, key, {**CHAT, "max_tokens": 4000, "n": 1})
    assert status == 402 and body["error"]["code"] == "budget_exceeded"
    await asyncio.sleep(0.3)
    assert await _state(redis, key) == before
    assert await redis.get(key.redis_key(Kind.TPM)) == tokens_before
    assert await redis.zcard(key.redis_key(Kind.CONCURRENCY)) == 0


async def test_a_budget_of_zero_stops_all_spending(stack: Stack, db: Any) -> None:
    key = await limited_key(stack, db)
    await _set_budget(stack, key, "0", "total")
    status, body = await _chat(stack, key, CHAT)
    assert status == 402 and "in total; 0 USD is left" in body["error"]["message"]


async def test_a_new_period_starts_at_zero(stack: Stack, db: Any, redis: Any) -> None:
    key = await limited_key(stack, db)
    await _set_budget(stack, key, "0.001")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    # Yesterday the key spent its whole budget: in its records and its counter.
    await _record(db, key, yesterday, Decimal("0.5"))
    await redis.hset(_counter(key, yesterday), mapping={"spent": 10**9, "held": 0})
    status, _ = await _chat(stack, key, CHAT)
    assert status == 200
    await asyncio.sleep(0.3)
    today = await redis.hgetall(_counter(key))
    assert int(today[b"held"]) == 0 and 0 < int(today[b"spent"]) < 10**5
    assert await redis.pttl(_counter(key)) > 86_400_000  # it goes a day after the day


async def test_a_lost_counter_is_seeded_from_the_usage_records(
    stack: Stack, db: Any, redis: Any
) -> None:
    key = await limited_key(stack, db)
    await _set_budget(stack, key, "0.001")
    await _record(db, key, datetime.now(UTC) - timedelta(minutes=1), Decimal("0.0009"))
    # No counter yet (a first request this period): seeded with the 0.0009 spent.
    status, body = await _chat(stack, key)
    assert status == 402 and "0.0001 USD is left" in body["error"]["message"]
    assert int((await redis.hgetall(_counter(key)))[b"spent"]) == 900_000
    assert (await _chat(stack, key, CHAT))[0] == 200
    await _recorded(db, 1)
    await redis.delete(_counter(key))  # Redis lost it
    status, _ = await _chat(stack, key)
    assert status == 402
    spent = await db.fetchval("SELECT sum(cost) FROM usage.records WHERE key_id = $1", key.key_id)
    assert from_nano(int((await redis.hgetall(_counter(key)))[b"spent"])) == spent.quantize(
        Decimal("0.000000001"), rounding="ROUND_CEILING"
    )


async def test_the_spend_api_refuses_bad_input(stack: Stack, db: Any) -> None:
    key = await limited_key(stack, db)
    headers = key.account.headers
    for path, status in (
        (f"/api/usage/keys/{key.key_id}/spend?period=week", 422),
        (f"/api/usage/keys/{key.key_id}/spend", 422),
        (f"/api/usage/keys/{key.key_id}/spend?period=day&period=day", 422),
        (f"/api/usage/keys/{key.key_id}/spend?period=d%00y", 422),
        (f"/api/usage/keys/{key.key_id}/spend?period={'x' * 5000}", 422),
        ("/api/usage/keys/not-a-key/spend?period=day", 404),
    ):
        response = await stack.gateway.get(path, headers=headers)
        assert response.status == status, (path, await response.text())
        assert "error" in await response.json()
    other = await stack.gateway.get(
        f"/api/usage/keys/{uuid.uuid4()}/spend?period=total", headers=headers
    )
    assert (await other.json())["spent"] == "0"


async def _record(db: Any, key: LimitedKey, at: datetime, cost: Decimal) -> None:
    await db.execute(
        "INSERT INTO usage.records (event_id, occurred_at, user_id, key_id, model, endpoint,"
        " cost, status, http_status, usage_source)"
        " VALUES ($1, $2, $3, $4, 'gpt-4o-mini', 'chat', $5, 'ok', 200, 'provider')",
        f"test-{uuid.uuid4()}",
        at,
        key.user_id,
        key.key_id,
        cost,
    )
