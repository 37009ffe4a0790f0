"""Holds: money reserved in Redis before a request is relayed.

Per user, under one hash tag (so a Redis Cluster keeps them on one shard):

    tg:{u:<id>}:acct   hash  bal (balance), floor, ver (the account's version), held
    tg:{u:<id>}:holds  hash  hold id -> amount
    tg:{u:<id>}:hexp   zset  hold id -> expiry (ms)

Amounts in Redis are integers of nano-USD (1e-9 USD): Lua numbers are
doubles, exact to 2**53 nano-USD (about 9 million USD), and every script only
adds and compares integers. Holds round up, balances round down, so Redis
errs on the side of refusing. PostgreSQL stays the source of truth: the
snapshot here is refreshed by billing after every commit and by the gateway
on a cold start, and a snapshot with an older account version than the one
stored is ignored, so the balance here never moves backwards.

Each operation is one atomic script: placing a hold purges expired holds and
checks `bal - held - amount >= floor` in one step (and answers what is then
left above the floor: the gateway's last-known available balance, by which
it decides whether a request's hold may go with its upstream request:
`services/gateway/relay/optimistic_hold.py`); settling removes the hold
and installs the new balance in one step, so the available amount never
counts a charge twice or not at all.

Limits (DESIGN 13, `shared/limits.py`) ride in the same scripts, never in
a command of their own: `place_limited_command` runs the limits' check, then
this module's place script unchanged, then takes the limits only if the hold
was placed (a refusal, by a limit or by the balance, takes nothing); its
limit keys are under the same hash tag, so it stays one cluster slot.
`finish_command` runs the shrink script (or leaves the hold, while events
are spooled) and, in the same step, releases the request's concurrency
slots, settles its tokens-per-minute reserve to the real count and moves
its key budget's held part to spent (`shared/key_budgets.py`). A
request with no limit sends `place_command` and `shrink_command` exactly as
before limits existed.

When a hold expires (DESIGN.md section 5, invariant 5): a hold is settled by
billing once its request's event is charged; one never settled (its gateway
died, or its event never came) expires a TTL after it was placed or last
renewed, but only once billing has also committed every usage event older
than that expiry. Billing publishes that point, its watermark
(`WATERMARK_KEY`, `services/billing/progress.py`); a hold expires when its
expiry is below `purge_before(now, watermark)`. A request's event enters the
stream before its hold's expiry (the hold is renewed while the request
runs), so while billing is stalled the holds of finished, uncharged requests
stay, and the balance keeps bounding spending: clients get 402, not free
calls. An unknown watermark (billing never ran, Redis lost it) expires
nothing. The scripts read only the user's own keys (one cluster slot): the
caller passes the purge time in ARGV, never a global key.

Where the rule is weaker: expiries are on the gateway's clock and stream ids
on Redis's, so a gateway clock behind Redis's by a large part of the TTL
could let a hold go before its event is charged; an event that waited in a
gateway's spool longer than the TTL enters the stream after its hold's
expiry; an event set aside as a dead letter counts as committed. Each lets
at most that one request's cost go unbounded, and billing writes off what a
balance then cannot pay.
"""

from __future__ import annotations

import functools
import math
import time
import uuid
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum
from typing import Any

from redis.asyncio.client import Pipeline

from shared import key_budgets, limits
from shared.redis_conn import Redis

NANO = Decimal("0.000000001")
# A running request renews its hold (services/gateway/metering/hold_keeper.py), however
# long it runs; a hold left behind also waits for billing's watermark.
HOLD_TTL_MS = 15 * 60 * 1000
# Billing's watermark, in ms of the stream's clock: every usage event with an
# id below it is committed by the billing group. It only moves forward.
WATERMARK_KEY = "tg:billing:watermark"

# ARGV[1]: holds whose expiry is below it go (0: none).
_PURGE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 200)
for _, id in ipairs(expired) do
  local amount = redis.call('HGET', KEYS[2], id)
  if amount then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HINCRBY', KEYS[1], 'held', -tonumber(amount))
  end
  redis.call('ZREM', KEYS[3], id)
end
"""

_PLACE = (
    _PURGE
    + """
local bal = redis.call('HGET', KEYS[1], 'bal')
if not bal then return -1 end
local floor = tonumber(redis.call('HGET', KEYS[1], 'floor') or '0')
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local amount = tonumber(ARGV[3])
if tonumber(bal) - held - amount < floor then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'held', amount)
return {1, tonumber(bal) - held - amount - floor}
"""
)

# Keep only what the request cost until billing settles it; 0 drops the hold.
_SHRINK = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local keep = tonumber(ARGV[2])
if keep > tonumber(old) then keep = tonumber(old) end
redis.call('HINCRBY', KEYS[1], 'held', keep - tonumber(old))
if keep <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], keep)
end
return 1
"""

_SNAPSHOT = """
local ver = redis.call('HGET', KEYS[1], 'ver')
if ver and tonumber(ver) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'bal', ARGV[1], 'floor', ARGV[2], 'ver', ARGV[3])
return 1
"""

_SETTLE = (
    """
local amount = redis.call('HGET', KEYS[2], ARGV[4])
if amount then
  redis.call('HDEL', KEYS[2], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'held', -tonumber(amount))
end
"""
    + _SNAPSHOT
)


class Placed(Enum):
    PLACED = 1
    REFUSED = 0
    NO_SNAPSHOT = -1


def parse_placed(reply: Any) -> tuple[Placed, int | None]:
    """The place script's answer: placed (with what is then available above the
    floor, nano-USD: the gateway's last-known available), refused, or no snapshot."""
    if isinstance(reply, list):
        return Placed(int(reply[0])), int(reply[1])
    return Placed(int(reply)), None


@dataclass(frozen=True, slots=True)
class Snapshot:
    balance: Decimal
    floor: Decimal
    version: int


def purge_before(now_ms: int, watermark_ms: int | None) -> int:
    """The time a hold's expiry must be below for it to go: `now`, but never past
    what billing has committed; 0 (nothing goes) while the watermark is unknown."""
    if watermark_ms is None:
        return 0
    return max(0, min(now_ms, watermark_ms))


def parse_watermark(raw: bytes | str | None) -> int | None:
    """The watermark as stored (None when there is none, or it is not a number)."""
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


async def read_watermark(redis: Redis) -> int | None:
    """Billing's watermark as it stands in Redis (None: unknown)."""
    return parse_watermark(await redis.get(WATERMARK_KEY))


def to_nano_up(amount: Decimal) -> int:
    return int((amount / NANO).to_integral_value(rounding=ROUND_CEILING))


def to_nano_down(amount: Decimal) -> int:
    return int((amount / NANO).to_integral_value(rounding=ROUND_FLOOR))


def from_nano(units: int) -> Decimal:
    return Decimal(units) * NANO


@functools.lru_cache(maxsize=16384)
def keys(user_id: uuid.UUID) -> tuple[str, str, str]:
    """A user's account, holds and hold-expiry keys (one hash tag: one cluster slot)."""
    tag = f"tg:{{u:{user_id}}}"
    return f"{tag}:acct", f"{tag}:holds", f"{tag}:hexp"


class Holds:
    """The hold scripts, registered once per Redis client."""

    def __init__(self, redis: Redis, ttl_ms: int = HOLD_TTL_MS) -> None:
        self.redis = redis
        self.ttl_ms = ttl_ms
        self._place = redis.register_script(_PLACE)
        self._shrink = redis.register_script(_SHRINK)
        self._snapshot = redis.register_script(_SNAPSHOT)
        self._settle = redis.register_script(_SETTLE)
        # With limits (shared/limits.py): the same scripts inside, the limits around them.
        self._place_limited = redis.register_script(limits.place_limited_script(_PLACE))
        self._finish = redis.register_script(limits.finish_script(_SHRINK))
        self._seed_budget = redis.register_script(key_budgets.SEED)

    async def place(
        self, user_id: uuid.UUID, hold_id: str, amount: Decimal, now_ms: int, *, purge_ms: int = 0
    ) -> Placed:
        """Place a hold expiring a TTL from `now_ms`, first letting go of the user's
        holds whose expiry is below `purge_ms` (`purge_before`; 0: none)."""
        return (await self.place_seeing(user_id, hold_id, amount, now_ms, purge_ms=purge_ms))[0]

    async def place_seeing(
        self, user_id: uuid.UUID, hold_id: str, amount: Decimal, now_ms: int, *, purge_ms: int = 0
    ) -> tuple[Placed, int | None]:
        """`place`, and what is available above the floor once it is (`parse_placed`)."""
        result = await self._place(
            keys=keys(user_id), args=self._place_args(hold_id, amount, now_ms, purge_ms)
        )
        return parse_placed(result)

    def place_command(
        self, user_id: uuid.UUID, hold_id: str, amount: Decimal, now_ms: int, *, purge_ms: int = 0
    ) -> tuple[Any, ...]:
        """`place` as one raw command (by the script's digest), for a pipeline or batch.

        A Redis that lost its scripts answers NOSCRIPT; call `place` then, which loads it.
        """
        args = self._place_args(hold_id, amount, now_ms, purge_ms)
        return ("EVALSHA", self._place.sha, 3, *keys(user_id), *args)

    def _place_args(
        self, hold_id: str, amount: Decimal, now_ms: int, purge_ms: int
    ) -> list[int | str]:
        return [purge_ms, hold_id, to_nano_up(amount), now_ms + self.ttl_ms]

    def place_limited_command(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        amount: Decimal,
        now_ms: int,
        applied: tuple[limits.Limit, ...],
        slot_expiry_ms: int,
        *,
        purge_ms: int = 0,
    ) -> tuple[Any, ...]:
        """`place`, with `applied` checked first and taken once the hold is placed,
        as one raw command (by digest); on NOSCRIPT, call `place_limited`."""
        hold_keys, args = self._limited_parts(
            user_id, hold_id, amount, now_ms, applied, slot_expiry_ms, purge_ms
        )
        return ("EVALSHA", self._place_limited.sha, len(hold_keys), *hold_keys, *args)

    async def place_limited(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        amount: Decimal,
        now_ms: int,
        applied: tuple[limits.Limit, ...],
        slot_expiry_ms: int,
        *,
        purge_ms: int = 0,
    ) -> limits.LimitedPlace:
        hold_keys, args = self._limited_parts(
            user_id, hold_id, amount, now_ms, applied, slot_expiry_ms, purge_ms
        )
        reply = await self._place_limited(keys=hold_keys, args=args)
        return limits.parse_place_reply(reply, applied)

    def _limited_parts(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        amount: Decimal,
        now_ms: int,
        applied: tuple[limits.Limit, ...],
        slot_expiry_ms: int,
        purge_ms: int,
    ) -> tuple[list[str], list[int | str]]:
        hold_keys = [*keys(user_id), *(limit.key for limit in applied)]
        args = [
            *self._place_args(hold_id, amount, now_ms, purge_ms),
            *limits.place_tail(applied, hold_id, now_ms, slot_expiry_ms),
        ]
        return hold_keys, args

    def finish_command(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        keep: Decimal | None,
        applied: tuple[limits.Limit, ...],
        used_tokens: int,
        now_ms: int,
        spent: Decimal = Decimal(0),
    ) -> tuple[Any, ...]:
        """`shrink` (None: leave the hold as it is), with the request's limits
        finished in the same script: its concurrency slots released, its TPM
        reserves settled to `used_tokens`, its key budget's held part turned into
        `spent` (its real cost). One raw command; on NOSCRIPT, `finish`."""
        finish_keys, args = self._finish_parts(
            user_id, hold_id, keep, applied, used_tokens, now_ms, spent
        )
        return ("EVALSHA", self._finish.sha, len(finish_keys), *finish_keys, *args)

    async def finish(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        keep: Decimal | None,
        applied: tuple[limits.Limit, ...],
        used_tokens: int,
        now_ms: int,
        spent: Decimal = Decimal(0),
    ) -> None:
        finish_keys, args = self._finish_parts(
            user_id, hold_id, keep, applied, used_tokens, now_ms, spent
        )
        await self._finish(keys=finish_keys, args=args)

    def _finish_parts(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        keep: Decimal | None,
        applied: tuple[limits.Limit, ...],
        used_tokens: int,
        now_ms: int,
        spent: Decimal = Decimal(0),
    ) -> tuple[list[str], list[int | str]]:
        limit_keys, tail = limits.finish_tail(
            applied, hold_id, now_ms, used_tokens, to_nano_up(spent)
        )
        shrink_args: list[int | str] = [hold_id, "" if keep is None else to_nano_up(keep)]
        return [*keys(user_id), *limit_keys], [*shrink_args, *tail]

    async def seed_budget(self, counter: str, spent: Decimal, expire_at_ms: int) -> bool:
        """Install a key budget's counter (`shared/key_budgets.py`) with what the key
        spent in the period, unless one is there already."""
        result = await self._seed_budget(keys=[counter], args=[to_nano_up(spent), expire_at_ms])
        return bool(result)

    def renew_command(self, user_id: uuid.UUID, hold_id: str, expires_ms: int) -> tuple[Any, ...]:
        """Push an open hold's expiry to `expires_ms`: never earlier, and a hold
        that is gone (settled, dropped, purged) stays gone."""
        return ("ZADD", keys(user_id)[2], "XX", "GT", expires_ms, hold_id)

    def shrink_command(self, user_id: uuid.UUID, hold_id: str, keep: Decimal) -> tuple[Any, ...]:
        """`shrink` as one raw command (by digest); on NOSCRIPT, call `shrink`."""
        return ("EVALSHA", self._shrink.sha, 3, *keys(user_id), hold_id, to_nano_up(keep))

    async def install(self, user_id: uuid.UUID, snapshot: Snapshot) -> bool:
        """Install a balance snapshot unless a newer one is there."""
        result = await self._snapshot(keys=keys(user_id), args=_snapshot_args(snapshot))
        return bool(result)

    async def shrink(self, user_id: uuid.UUID, hold_id: str, keep: Decimal) -> None:
        await self._shrink(keys=keys(user_id), args=[hold_id, to_nano_up(keep)])

    async def settle(self, user_id: uuid.UUID, hold_id: str | None, snapshot: Snapshot) -> None:
        """After billing committed a charge: drop its hold, install the new balance."""
        await self._settle(keys=keys(user_id), args=[*_snapshot_args(snapshot), hold_id or ""])

    async def settle_in(
        self, pipe: Pipeline, user_id: uuid.UUID, hold_id: str | None, snapshot: Snapshot
    ) -> None:
        """Queue a settlement on a pipeline."""
        await self._settle(
            keys=keys(user_id), args=[*_snapshot_args(snapshot), hold_id or ""], client=pipe
        )


def _snapshot_args(snapshot: Snapshot) -> list[int]:
    return [to_nano_down(snapshot.balance), to_nano_up(snapshot.floor), snapshot.version]


async def held_amount(redis: Redis, user_id: uuid.UUID) -> Decimal:
    """The sum of the user's open holds (expired ones not yet purged excluded: the
    rule the place script purges by, against billing's watermark)."""
    acct, holds, expiries = keys(user_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(holds)
        pipe.zrangebyscore(expiries, "-inf", math.inf, withscores=True)
        pipe.get(WATERMARK_KEY)
        amounts, expiry_list, watermark = await pipe.execute()
    cut = purge_before(int(time.time() * 1000), parse_watermark(watermark))
    live = {_text(h) for h, expires in expiry_list if expires >= cut}
    total = sum(int(v) for h, v in amounts.items() if _text(h) in live)
    return from_nano(total)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def settle_many(
    holds: Holds, settlements: list[tuple[uuid.UUID, str | None, Snapshot]]
) -> None:
    """Settle a batch in one round trip (each script still atomic on its own)."""
    async with holds.redis.pipeline(transaction=False) as pipe:
        for user_id, hold_id, snapshot in settlements:
            await holds.settle_in(pipe, user_id, hold_id, snapshot)
        await pipe.execute()
