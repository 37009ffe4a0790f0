"""A hold expires against billing's progress, not the wall clock alone (DESIGN 5, invariant 5).

The rule is pure (`purge_before`); the place script and `held_amount` keep it
against a real Redis: a hold past its TTL stays while billing's watermark is
behind its expiry, and goes once the watermark passes it.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import redis.asyncio as aioredis

from shared.holds import (
    WATERMARK_KEY,
    Holds,
    Placed,
    Snapshot,
    held_amount,
    keys,
    parse_watermark,
    purge_before,
    read_watermark,
)

TTL_MS = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _funded(holds: Holds, balance: str) -> uuid.UUID:
    user = uuid.uuid4()
    await holds.install(user, Snapshot(balance=Decimal(balance), floor=Decimal(0), version=1))
    return user


async def _stale_hold(holds: Holds, user: uuid.UUID, amount: str) -> int:
    """A hold placed an hour ago (its TTL long past); its expiry."""
    placed_ms = _now_ms() - 3600 * 1000
    assert await holds.place(user, "stale", Decimal(amount), placed_ms) is Placed.PLACED
    return placed_ms + TTL_MS


# ---------------------------------------------------------------- the rule


def test_nothing_expires_while_the_watermark_is_unknown() -> None:
    assert purge_before(1_000_000, None) == 0


def test_the_purge_time_is_now_but_never_past_the_watermark() -> None:
    assert purge_before(5_000, 3_000) == 3_000  # billing behind: its watermark
    assert purge_before(5_000, 9_000) == 5_000  # billing caught up: the wall clock


def test_a_stored_watermark_is_read_as_an_integer_or_unknown() -> None:
    assert parse_watermark(b"1733390000123") == 1733390000123
    assert parse_watermark("42") == 42
    assert parse_watermark(None) is None
    assert parse_watermark(b"not a number") is None


# ---------------------------------------------------------------- the place script


async def test_a_hold_past_its_ttl_stays_while_billing_is_behind_its_expiry(
    redis: aioredis.Redis,
) -> None:
    holds = Holds(redis, ttl_ms=TTL_MS)
    user = await _funded(holds, "1.00")
    expires = await _stale_hold(holds, user, "0.6")
    now = _now_ms()
    behind = purge_before(now, expires - 1)  # billing has not committed up to its expiry
    assert await holds.place(user, "new", Decimal("0.6"), now, purge_ms=behind) is Placed.REFUSED
    assert await redis.hget(keys(user)[1], "stale") is not None
    # At the expiry exactly, events stamped that millisecond may still be uncharged.
    at = purge_before(now, expires)
    assert await holds.place(user, "new", Decimal("0.6"), now, purge_ms=at) is Placed.REFUSED


async def test_a_hold_past_its_ttl_goes_once_the_watermark_passes_its_expiry(
    redis: aioredis.Redis,
) -> None:
    holds = Holds(redis, ttl_ms=TTL_MS)
    user = await _funded(holds, "1.00")
    expires = await _stale_hold(holds, user, "0.6")
    now = _now_ms()
    past = purge_before(now, expires + 1)
    assert await holds.place(user, "new", Decimal("0.6"), now, purge_ms=past) is Placed.PLACED
    acct, hold_amounts, expiries = keys(user)
    assert await redis.hget(hold_amounts, "stale") is None
    assert await redis.zscore(expiries, "stale") is None
    assert int(await redis.hget(acct, "held") or 0) == 600_000_000  # the new one only


async def test_an_unknown_watermark_lets_no_hold_go(redis: aioredis.Redis) -> None:
    holds = Holds(redis, ttl_ms=TTL_MS)
    user = await _funded(holds, "1.00")
    await _stale_hold(holds, user, "0.6")
    now = _now_ms()
    unknown = purge_before(now, None)
    assert await holds.place(user, "new", Decimal("0.6"), now, purge_ms=unknown) is Placed.REFUSED
    # The default is the same: a caller that knows nothing of billing expires nothing.
    assert await holds.place(user, "new", Decimal("0.6"), now) is Placed.REFUSED


async def test_a_hold_within_its_ttl_stays_whatever_the_watermark(redis: aioredis.Redis) -> None:
    holds = Holds(redis, ttl_ms=60_000)
    user = await _funded(holds, "1.00")
    now = _now_ms()
    assert await holds.place(user, "live", Decimal("0.6"), now) is Placed.PLACED
    far = purge_before(now, now + 3600 * 1000)
    assert await holds.place(user, "new", Decimal("0.6"), now, purge_ms=far) is Placed.REFUSED


# ---------------------------------------------------------------- counting open holds


async def test_held_amount_counts_expired_holds_until_the_watermark_passes_them(
    redis: aioredis.Redis,
) -> None:
    holds = Holds(redis, ttl_ms=TTL_MS)
    user = await _funded(holds, "1.00")
    expires = await _stale_hold(holds, user, "0.6")
    assert await held_amount(redis, user) == Decimal("0.6")  # no watermark yet
    await redis.set(WATERMARK_KEY, expires - 1)
    assert await held_amount(redis, user) == Decimal("0.6")
    await redis.set(WATERMARK_KEY, expires + 1)
    assert await held_amount(redis, user) == 0
    assert await read_watermark(redis) == expires + 1
