"""Rate and concurrency limits in Redis, checked and taken with the hold (DESIGN 13).

A limit is one Redis key under the user's hash tag (so the hold's script can
touch it: one cluster slot), named by whose limit it is and what it counts:

    tg:{u:<id>}:lim:u:rpm | tpm | cc            the user's (own, or the group's defaults)
    tg:{u:<id>}:lim:k:<key id>:rpm | tpm | cc   one API key's
    tg:{u:<id>}:lim:k:<key id>:m:<model>:rpm | tpm | cc
                                                the key's for one model name

Requests and tokens per minute are GCRA (the generic cell rate algorithm):
the key holds the theoretical arrival time (TAT, ms, a double written with
`%.17g` so it reads back exactly), a request of `cost` (1 request, or its
tokens) moves it by `cost * 60000 / limit` ms, and it is admitted when the
new TAT is at most a minute ahead of now. A whole minute's worth may come at
once; after that, requests are admitted as fast as the limit refills.
`Retry-After` is exact: the time until the TAT is a minute ahead of now no
more. Tokens per minute reserve the request's worst case at admission; when
its usage event is published, the finish script moves the TAT by the
difference to the real count (back for the unused part, on for a prompt the
estimate under-counted). A request bigger than the limit on its own is
refused for good (no `Retry-After` can help it).

Concurrency is a sorted set of the running requests' ids scored by their
expiry (ms): admission first lets go of expired ids, then admits while fewer
than the limit remain. The finish script removes the id (a request ends
however it ends: its usage result is recorded in a `finally`, client
hang-ups and upstream failures included); the hold keeper renews the ids of
running requests (`ZADD XX GT`); a dead gateway's ids expire `slot_ttl`
after their last renewal.

The check runs before the hold is placed and takes nothing: when a limit
refuses, or the hold is refused, nothing is taken (no slot, no quota, no
hold). Only when the hold is placed are the limits taken, in the same
script. The limit keys and arguments come after the hold's own (the last
argument is how many limits), so the hold's script runs unchanged inside.

A key's spend budget is one more kind (`Kind.BUDGET`, `shared/key_budgets.py`):
checked with the others, taken once the hold is placed (the hold's amount
held against the budget), finished with them (the held part becomes spent
at the request's real cost).
"""

from __future__ import annotations

import functools
import math
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared import key_budgets

PERIOD_MS = 60_000
SLOT_TTL_MS = 60_000


class Kind(StrEnum):
    RPM = "rpm"
    TPM = "tpm"
    CONCURRENCY = "cc"
    BUDGET = "b"  # a key's spend budget (`shared/key_budgets.py`): nano-USD, not a count


class Scope(StrEnum):
    KEY = "key"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit a request is admitted against: its Redis key, and what it costs."""

    key: str
    kind: Kind
    scope: Scope
    limit: int
    cost: int  # 1 request, the tokens reserved, or 0 (concurrency: one slot)
    model: str | None = None  # a key's per-model limit: the model name it is for


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a limit stands once the request is admitted."""

    limit: Limit
    remaining: int
    reset_ms: int  # until the limit is whole again


@dataclass(frozen=True, slots=True)
class Refusal:
    """The limit that refused; `retry_after_ms` None when waiting cannot help."""

    limit: Limit
    retry_after_ms: int | None


@functools.lru_cache(maxsize=16384)
def key_for(user_id: uuid.UUID, key_id: uuid.UUID | None, kind: Kind) -> str:
    """A limit's Redis key: the key's when `key_id` is given, else the user's."""
    owner = "u" if key_id is None else f"k:{key_id}"
    return f"tg:{{u:{user_id}}}:lim:{owner}:{kind.value}"


def model_key_for(user_id: uuid.UUID, key_id: uuid.UUID, model: str, kind: Kind) -> str:
    """A key's per-model limit's Redis key (the kind last: no two names collide)."""
    return f"tg:{{u:{user_id}}}:lim:k:{key_id}:m:{model}:{kind.value}"


def step_ms(limit: Limit) -> float:
    """How far one unit of cost moves a rate limit's TAT."""
    return PERIOD_MS / limit.limit


# The check: KEYS and ARGV end with the limits' (see `place_tail`); returns
# nil when every limit admits, else {'limit', index, retry ms} or {'never', index}
# (the request alone is more than the limit); a budget: {'budget', index, nano-USD
# left} or {'seed', index} (no counter: the gateway seeds it and tries again).
_CHECK = (
    key_budgets.CHECK
    + """
local n = tonumber(ARGV[#ARGV])
local a0 = #ARGV - 1 - 3 * n
local k0 = #KEYS - n
local now = tonumber(ARGV[a0 - 1])
local taken = {}
local function check()
  for i = 1, n do
    local key = KEYS[k0 + i]
    local kind, limit = ARGV[a0 + 3*i - 2], tonumber(ARGV[a0 + 3*i - 1])
    local cost = tonumber(ARGV[a0 + 3*i])
    if kind == 'cc' then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. now)
      local used = redis.call('ZCARD', key)
      if used >= limit then return {'limit', i, 1000} end
      taken[i] = limit - used - 1
    elseif kind == 'b' then
      if redis.call('EXISTS', key) == 0 then return {'seed', i} end
      local left = budget_left(key, limit, cost)
      if cost > left then return {'budget', i, left} end
      taken[i] = left - cost
    else
      if cost > limit then return {'never', i} end
      local step = 60000 / limit
      local tat = tonumber(redis.call('GET', key) or '0')
      if tat < now then tat = now end
      local new = tat + cost * step
      local wait = new - 60000 - now
      if wait > 0.001 then return {'limit', i, math.ceil(wait)} end
      taken[i] = new
    end
  end
  return nil
end
"""
)

# After the hold is placed: take every limit checked; {1, remaining, reset ms, ...},
# then what is available above the balance's floor (nano-USD), the hold's answer.
_TAKE = """
local function take()
  local member, slot_expiry = ARGV[a0 - 2], tonumber(ARGV[a0])
  local out = {1}
  for i = 1, n do
    local key = KEYS[k0 + i]
    local kind, limit = ARGV[a0 + 3*i - 2], tonumber(ARGV[a0 + 3*i - 1])
    local cost = ARGV[a0 + 3*i]
    if kind == 'cc' then
      redis.call('ZADD', key, slot_expiry, member)
      redis.call('PEXPIRE', key, slot_expiry - now)
      out[#out + 1] = taken[i]
      out[#out + 1] = 0
    elseif kind == 'b' then
      redis.call('HINCRBY', key, 'held', cost)
      redis.call('HSET', key, 'h:' .. member, cost)
      out[#out + 1] = taken[i]
      out[#out + 1] = 0
    else
      local new = taken[i]
      local ahead = new - now
      redis.call('SET', key, string.format('%.17g', new), 'PX', math.ceil(ahead) + 1)
      out[#out + 1] = math.floor((60000 - ahead) / (60000 / limit) + 0.000001)
      out[#out + 1] = math.ceil(ahead)
    end
  end
  return out
end
"""


def place_limited_script(place: str) -> str:
    """The hold's `place` script, run between the limits' check and their taking."""
    return (
        _CHECK
        + _TAKE
        + "local function place()\n"
        + place
        + "\nend\n"
        + """
local refused = check()
if refused then return refused end
local placed = place()
if type(placed) ~= 'table' then return {placed} end
local out = take()
out[#out + 1] = placed[2]
return out
"""
    )


def place_tail(
    limits: tuple[Limit, ...], member: str, now_ms: int, slot_expiry_ms: int
) -> list[int | str]:
    """What follows the hold's own arguments in the limited place script."""
    tail: list[int | str] = [member, now_ms, slot_expiry_ms]
    for limit in limits:
        tail += [limit.kind.value, limit.limit, limit.cost]
    tail.append(len(limits))
    return tail


# The hold's finish: shrink (unless its keep argument is empty), then per
# limit: 'cc' releases the slot, 't' moves a TPM's TAT by ARGV's delta (ms),
# 'b' moves the hold's amount out of a budget's held and adds ARGV's cost
# (nano-USD) to its spent (a counter gone is left to its seed).
_FINISH_TAIL = """
local n = tonumber(ARGV[#ARGV])
local a0 = #ARGV - 1 - 2 * n
local k0 = #KEYS - n
local member, now = ARGV[a0 - 1], tonumber(ARGV[a0])
for i = 1, n do
  local key = KEYS[k0 + i]
  local kind = ARGV[a0 + 2*i - 1]
  if kind == 'cc' then
    redis.call('ZREM', key, member)
  elseif kind == 'b' then
    if redis.call('EXISTS', key) == 1 then
      local held = redis.call('HGET', key, 'h:' .. member)
      if held then
        redis.call('HDEL', key, 'h:' .. member)
        redis.call('HINCRBY', key, 'held', -tonumber(held))
      end
      redis.call('HINCRBY', key, 'spent', ARGV[a0 + 2*i])
    end
  else
    local tat = redis.call('GET', key)
    if tat then
      local new = tonumber(tat) + tonumber(ARGV[a0 + 2*i])
      if new > now then
        redis.call('SET', key, string.format('%.17g', new), 'PX', math.ceil(new - now) + 1)
      else
        redis.call('DEL', key)
      end
    end
  end
end
return 1
"""


def finish_script(shrink: str) -> str:
    """The hold's `shrink` script (skipped when its keep is ''), then the limits' finish."""
    return (
        "local function shrink()\n"
        + shrink
        + "\nend\n"
        + "if ARGV[2] ~= '' then shrink() end\n"
        + _FINISH_TAIL
    )


def settled_tokens(limit: Limit, used_tokens: int) -> str:
    """The TAT move (ms, as text) that settles a TPM limit from its reserve to `used_tokens`."""
    return repr((used_tokens - limit.cost) * step_ms(limit))


def finish_tail(
    limits: tuple[Limit, ...], member: str, now_ms: int, used_tokens: int, cost_nano: int = 0
) -> tuple[list[str], list[int | str]]:
    """The keys and arguments that follow the hold's own in the finish script:
    a concurrency slot to release, a TPM reserve to settle, a budget's held part
    turned into spent at the request's real cost (`cost_nano`); RPM: nothing."""
    keys: list[str] = []
    args: list[int | str] = [member, now_ms]
    for limit in limits:
        if limit.kind is Kind.CONCURRENCY:
            keys.append(limit.key)
            args += ["cc", 0]
        elif limit.kind is Kind.TPM and used_tokens != limit.cost:
            keys.append(limit.key)
            args += ["t", settled_tokens(limit, used_tokens)]
        elif limit.kind is Kind.BUDGET:
            keys.append(limit.key)
            args += ["b", cost_nano]
    args.append(len(keys))
    return keys, args


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    """A key's budget refused: what is left of it (nano-USD, at least 0)."""

    limit: Limit
    left_nano: int


@dataclass(frozen=True, slots=True)
class LimitedPlace:
    """The limited place script's answer: the hold's `Placed` value (None when a
    limit refused first), the limits' standing once taken, or the refusal;
    `unseeded`: a budget with no counter for its period (nothing was taken)."""

    placed: int | None
    standings: tuple[Standing, ...] = ()
    refusal: Refusal | None = None
    budget_refusal: BudgetRefusal | None = None
    unseeded: Limit | None = None
    available_nano: int | None = None  # above the floor once the hold is placed


def parse_place_reply(reply: Any, limits: tuple[Limit, ...]) -> LimitedPlace:
    if not isinstance(reply, list):
        return LimitedPlace(int(reply))
    head = reply[0]
    if isinstance(head, bytes | str):
        tag = head.decode() if isinstance(head, bytes) else head
        limit = limits[int(reply[1]) - 1]
        if tag == "seed":
            return LimitedPlace(None, unseeded=limit)
        if tag == "budget":
            return LimitedPlace(None, budget_refusal=BudgetRefusal(limit, max(0, int(reply[2]))))
        return LimitedPlace(None, refusal=Refusal(limit, int(reply[2]) if tag == "limit" else None))
    if int(head) != 1:
        return LimitedPlace(int(head))
    standings = tuple(
        Standing(limit, remaining=max(0, int(reply[1 + 2 * i])), reset_ms=int(reply[2 + 2 * i]))
        for i, limit in enumerate(limits)
    )
    available = int(reply[1 + 2 * len(limits)]) if len(reply) > 1 + 2 * len(limits) else None
    return LimitedPlace(1, standings, available_nano=available)


def retry_after_seconds(refusal: Refusal) -> int | None:
    """`Retry-After`: whole seconds, rounded up, at least 1."""
    if refusal.retry_after_ms is None:
        return None
    return max(1, math.ceil(refusal.retry_after_ms / 1000))


def slot_renewals(
    slots: tuple[str, ...], member: str, expiry_ms: int, ttl_ms: int
) -> list[tuple[Any, ...]]:
    """Commands that push a running request's slots to `expiry_ms`: never earlier,
    and a released slot stays released; each set lives as long as its newest id."""
    commands: list[tuple[Any, ...]] = []
    for key in slots:
        commands.append(("ZADD", key, "XX", "GT", expiry_ms, member))
        commands.append(("PEXPIRE", key, ttl_ms))
    return commands
