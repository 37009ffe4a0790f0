"""A key's spend budget in Redis, checked and taken with the hold (DESIGN 13).

A budget is a limit of its own kind (`shared.limits.Kind.BUDGET`) in the
hold's script: a counter per key and period under the user's hash tag,

    tg:{u:<id>}:kb:<key id>:<period>   hash  spent, held, h:<hold id> -> amount

where the period is `d2026-12-05` (a UTC day), `m2026-12` (a UTC month) or
`total`, in nano-USD integers like the holds. A request is refused when
`spent + held + its hold > budget`, before anything is taken; once its hold
is placed, its amount is added to `held` (and kept under `h:<hold id>`).
When the request finishes (the hold's finish script), that amount leaves
`held` and the request's real cost joins `spent`. A period is a key of its
own, so a new period starts from a counter of its own (seeded: below), and
a request that began in the old one finishes into it, where its usage record
counts it too.

Only the seed creates a counter: a missing one (a new period, a budget just
set, Redis lost it) makes the script answer `seed` and take nothing; the
gateway asks the usage service what the key spent in the period (its usage
records) and installs that as `spent`, unless a counter appeared meanwhile,
then tries again. A day's counter expires a day after the day, a month's a
day after the month; `total` never. The seed misses what the key spent in
events still on their way to the usage service (in the stream, or a
gateway's spool): a lost counter under-counts by that much, seconds of
spend. A hold whose request vanished (its gateway died) stays in `held`
until the budget would refuse: then the entries whose hold is gone from the
user's holds (settled or expired) are let go, and the check made again.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

Period = Literal["day", "month", "total"]

# Lua, inside the limits' check (`shared/limits.py`): KEYS[2] is the user's
# holds hash. Returns what is left of the budget (nano-USD) before this request,
# letting go of the entries of holds that are gone when that is not enough.
CHECK = """
local function budget_left(key, budget, cost)
  local state = redis.call('HMGET', key, 'spent', 'held')
  local spent, held = tonumber(state[1] or '0'), tonumber(state[2] or '0')
  if spent + held + cost <= budget then return budget - spent - held end
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    local name = fields[j]
    local id = string.sub(name, 3)
    if string.sub(name, 1, 2) == 'h:' and redis.call('HEXISTS', KEYS[2], id) == 0 then
      redis.call('HDEL', key, name)
      held = held - tonumber(fields[j + 1])
    end
  end
  if held < 0 then held = 0 end
  redis.call('HSET', key, 'held', held)
  return budget - spent - held
end
"""

# Lua: install a seed unless a counter is there. KEYS[1]; ARGV: spent, expire-at ms (0: never).
SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'spent', ARGV[1], 'held', 0)
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1
"""


def period_id(period: Period, now: datetime) -> str:
    """The period `now` is in: `d2026-12-05`, `m2026-12` or `total` (UTC)."""
    now = now.astimezone(UTC)
    if period == "day":
        return f"d{now:%Y-%m-%d}"
    if period == "month":
        return f"m{now:%Y-%m}"
    return "total"


def period_start(period: Period, now: datetime) -> datetime | None:
    """When the period `now` is in began (UTC); None for `total`."""
    now = now.astimezone(UTC)
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def period_end(period: Period, now: datetime) -> datetime | None:
    """When the period `now` is in ends (UTC); None for `total`."""
    start = period_start(period, now)
    if start is None:
        return None
    if period == "day":
        return start + timedelta(days=1)
    return (start + timedelta(days=32)).replace(day=1)


def expire_at_ms(period: Period, now: datetime) -> int:
    """When a counter of this period may go: a day after the period (0: never)."""
    end = period_end(period, now)
    return 0 if end is None else int((end + timedelta(days=1)).timestamp() * 1000)


@functools.lru_cache(maxsize=16384)
def counter_key(user_id: uuid.UUID, key_id: uuid.UUID, period: str) -> str:
    """A key's budget counter for one period (`period_id`), under the user's hash tag."""
    return f"tg:{{u:{user_id}}}:kb:{key_id}:{period}"
