"""Billing's progress through the usage stream: the watermark holds expire by.

The watermark is a time (ms, the stream's clock) below which every usage
event has been committed by the billing group. Stream entry ids are ms
timestamps, so it is read from the group's own state, atomically in one
script on the stream key (`_MEASURE`):

- the oldest entry still pending in the group (delivered, not acknowledged:
  its charge may not be committed) bounds it: entries below it were
  acknowledged, that is committed;
- else the first entry after the group's last-delivered id (not delivered
  yet): everything before it was acknowledged;
- else the group is caught up: Redis's clock now (a later entry gets an id
  at or above it).

No group (billing never ran, or Redis lost the stream) means no watermark.
(With the stream split into shards, DESIGN.md section 10, it would be the
lowest of the shards' watermarks.)
Each consuming process (`TOLLGATE_CONSUMER`) measures it about every second
and stores it (`WATERMARK_KEY`) with a max, so it never moves backwards
whichever replica wrote last; a value once true stays true, because
committed entries stay committed. The gateways let holds expire only below it
(`shared.holds`), so while billing is stalled, holds stay.

The lag (Redis's now minus the watermark, in seconds) is a gauge; past
`BILLING_LAG_ALERT_SECONDS` it is logged as a warning once per crossing (and
once when it comes back), and the threshold is a gauge too, so the
Prometheus rule (`deploy/prometheus/rules.yml`) compares the two.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge
from redis.exceptions import RedisError

from shared import tasks
from shared.holds import WATERMARK_KEY
from shared.metrics import METRICS
from shared.redis_conn import Redis
from shared.service import REDIS
from shared.stream_consumer import USAGE_STREAM

GROUP = "billing"
MEASURE_EVERY_SECONDS = 1.0
_log = logging.getLogger(__name__)

# KEYS[1] the stream, ARGV[1] the group; -> {watermark ms, now ms}, or nil.
_MEASURE = """
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return nil end
local last = nil
for _, group in ipairs(groups) do
  local fields = {}
  for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
  if fields['name'] == ARGV[1] then last = fields['last-delivered-id'] end
end
if not last then return nil end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function ms(id) return tonumber(string.match(id, '^(%d+)')) end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if tonumber(pending[1]) > 0 then return {ms(pending[2]), now} end
local following = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)
if #following > 0 then return {ms(following[1][1]), now} end
return {now, now}
"""

# KEYS[1] the watermark; ARGV[1] a new one -> the one stored (never lower).
_ADVANCE = """
local old = tonumber(redis.call('GET', KEYS[1])) or 0
local new = tonumber(ARGV[1])
if new > old then
  redis.call('SET', KEYS[1], ARGV[1])
  return new
end
return old
"""


@dataclass(frozen=True, slots=True)
class Progress:
    watermark_ms: int  # as stored: never lower than one measured before
    now_ms: int  # Redis's clock when measured

    @property
    def lag_seconds(self) -> float:
        return max(0, self.now_ms - self.watermark_ms) / 1000


class LagAlert:
    """Whether billing's lag is past the threshold; says when that changes (sans IO)."""

    def __init__(self, threshold_seconds: float) -> None:
        self.threshold_seconds = threshold_seconds
        self.raised = False

    def observe(self, lag_seconds: float) -> bool | None:
        """True when the lag just crossed above the threshold, False when it just
        came back under, None when nothing changed."""
        above = lag_seconds > self.threshold_seconds
        if above == self.raised:
            return None
        self.raised = above
        return above


class ProgressMetrics:
    def __init__(self, registry: CollectorRegistry, threshold_seconds: float) -> None:
        self.lag = Gauge(
            "tollgate_billing_lag_seconds",
            "How far billing's watermark is behind now: the age of the oldest usage event "
            "not yet charged (NaN while unknown).",
            registry=registry,
        )
        self.lag.set(math.nan)
        self.threshold = Gauge(
            "tollgate_billing_lag_alert_seconds",
            "The lag past which billing warns (BILLING_LAG_ALERT_SECONDS).",
            registry=registry,
        )
        self.threshold.set(threshold_seconds)


class BillingProgress:
    """Measures and publishes the watermark; keeps the lag gauge and the alert."""

    def __init__(self, redis: Redis, metrics: ProgressMetrics, alert: LagAlert) -> None:
        self._redis = redis
        self._metrics = metrics
        self._alert = alert
        self._measure = redis.register_script(_MEASURE)
        self._advance = redis.register_script(_ADVANCE)

    async def measure(self) -> Progress | None:
        """The group's watermark now (not stored); None without a billing group."""
        reply: Any = await self._measure(keys=[USAGE_STREAM], args=[GROUP])
        if not reply:
            return None
        watermark_ms, now_ms = (int(value) for value in reply)
        return Progress(watermark_ms=watermark_ms, now_ms=now_ms)

    async def step(self) -> Progress | None:
        """Measure, store (never backwards), and report the lag."""
        measured = await self.measure()
        if measured is None:
            self._metrics.lag.set(math.nan)
            return None
        stored = int(await self._advance(keys=[WATERMARK_KEY], args=[measured.watermark_ms]))
        progress = Progress(watermark_ms=stored, now_ms=measured.now_ms)
        self._report(progress.lag_seconds)
        return progress

    def _report(self, lag_seconds: float) -> None:
        self._metrics.lag.set(lag_seconds)
        crossed = self._alert.observe(lag_seconds)
        threshold = self._alert.threshold_seconds
        if crossed is True:
            _log.warning(
                "billing is behind the usage stream; holds stay until it catches up",
                extra={"lag_seconds": round(lag_seconds, 1), "alert_seconds": threshold},
            )
        elif crossed is False:
            _log.info(
                "billing is back within its lag threshold",
                extra={"lag_seconds": round(lag_seconds, 1), "alert_seconds": threshold},
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a step about every second."""
        failing = False
        while not stop.is_set():
            try:
                await self.step()
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:  # once per outage
                    _log.warning("billing's watermark not published", extra={"reason": str(exc)})
                failing = True
            await tasks.sleep_unless(stop, MEASURE_EVERY_SECONDS)


Context = Callable[[web.Application], AsyncIterator[None]]


def publishing(threshold_seconds: float) -> Context:
    """The cleanup context of a consuming billing process: publish its progress."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        metrics = ProgressMetrics(app[METRICS].registry, threshold_seconds)
        progress = BillingProgress(app[REDIS], metrics, LagAlert(threshold_seconds))
        stop = asyncio.Event()
        task = tasks.spawn(progress.run(stop), name="billing-progress")
        yield
        stop.set()
        await task

    return context
