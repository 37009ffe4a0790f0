"""Consuming the usage event stream in a consumer group, exactly once in effect.

The loop keeps DESIGN.md section 5's rules:

- on (re)start it first re-reads its own pending entries (delivered before a
  crash, never acknowledged), then claims entries other consumers left
  pending longer than `claim_idle_ms` (`XAUTOCLAIM`), then reads new ones;
- every entry is decoded once, by `shared.usage_event`; the handler gets
  `UsageEvent`s, never raw JSON;
- an entry is acknowledged only after the handler returned, that is after its
  database transaction committed; the handler is idempotent by event id, so a
  redelivery changes nothing;
- a missing group (`NOGROUP`, after a Redis restart without the stream, or a
  deleted group) is recreated from the start of the stream, never from `$`.

No single entry can stop the group. A failure is one of two kinds:

- Incurable: the same entries would fail the same way forever. An entry
  that is not a usage event (no `e` field, not JSON, not an object, money
  fields unreadable: `UsageEventError`); or a handler failure caused by the
  values it was given: PostgreSQL's data exceptions (SQLSTATE class 22:
  `asyncpg.DataError`, e.g. `CharacterNotInRepertoireError`,
  `NumericValueOutOfRangeError`, `InvalidDatetimeFormatError`) and integrity
  violations (class 23: not-null, check, foreign key, exclusion) except
  `unique_violation` (23505, the idempotency race the handlers retry
  themselves, which a later attempt does cure); asyncpg refusing to encode an
  argument (an int past its column, a lone surrogate: raised as class 22
  too, or as an `InterfaceError` that is also a `ValueError`); and Python's
  `ValueError` and `ArithmeticError` (overflow, decimal) raised while
  computing from the events. The batch is split in
  halves (bisection) until the entry at fault is alone: every other sub-batch
  commits and is acknowledged; the entry alone is moved to the dead-letter
  stream (`shared.dead_letters`) and acknowledged there, atomically, counted
  in `tollgate_stream_events_dead_lettered{group}` and logged once (entry id,
  event id and reason, capped). `tollgate reconcile` fails until an operator
  resolves or retries it.
- Everything else is treated as transient and retried, the batch whole, every
  `retry_seconds`, its entries staying pending: Redis errors, lost
  connections (`OSError`, `asyncpg.InterfaceError`, class 08), PostgreSQL
  down or restarting (57P), out of resources (53), deadlocks and
  serialization failures (40), lock timeouts (55), and also errors that
  point at the deployment rather than at an event (class 42: a missing table
  or column; an unexpected exception type: a bug). Dead-lettering every
  event behind a bad deploy would be worse than stalling: while billing
  stalls, holds stay and the lag alert fires; after the fix nothing needs
  retrying by hand.

`trim` removes entries only below the oldest one some expected group has not
acknowledged, never by a blind MAXLEN; set-aside entries are acknowledged, so
the dead-letter stream keeps the only copy of their bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import ResponseError

from shared import dead_letters
from shared.redis_conn import Redis
from shared.tasks import sleep_unless
from shared.usage_event import UsageEvent, UsageEventError, decode

USAGE_STREAM = "tg:usage"
EVENT_FIELD = b"e"
GROUPS = ("billing", "usage")

Handler = Callable[[list[UsageEvent]], Awaitable[None]]
UNIQUE_VIOLATION = "23505"
_INCURABLE_CLASSES = ("22", "23")  # data exception, integrity constraint violation
_log = logging.getLogger(__name__)


def incurable(exc: BaseException) -> bool:
    """Whether a handler failure would repeat however often the batch is retried
    (see the module docstring for the classification and why)."""
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = str(getattr(exc, "sqlstate", None) or "")
        return sqlstate != UNIQUE_VIOLATION and sqlstate[:2] in _INCURABLE_CLASSES
    if isinstance(exc, asyncpg.InterfaceError):
        return isinstance(exc, ValueError)  # an argument asyncpg cannot encode
    return isinstance(exc, ValueError | ArithmeticError)


@dataclass(frozen=True, slots=True)
class _Entry:
    entry_id: str
    raw: bytes
    event: UsageEvent


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry, group: str) -> None:
        self.group = group
        self.processed = Counter(
            "tollgate_stream_events_processed",
            "Usage events handled and acknowledged.",
            ["group"],
            registry=registry,
        )
        self.malformed = Counter(
            "tollgate_stream_events_malformed",
            "Stream entries that were not usage events (set aside as dead letters).",
            ["group"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "tollgate_stream_events_dead_lettered",
            "Stream entries moved to the dead-letter stream: malformed, or failing "
            "for a reason retrying cannot cure.",
            ["group"],
            registry=registry,
        )
        self.length = Gauge(
            "tollgate_stream_length", "Entries in the usage stream.", registry=registry
        )
        self.pending = Gauge(
            "tollgate_stream_pending",
            "Entries delivered but not acknowledged, per group.",
            ["group"],
            registry=registry,
        )
        self.lag = Gauge(
            "tollgate_stream_lag",
            "Entries not yet delivered to the group.",
            ["group"],
            registry=registry,
        )


@dataclass(frozen=True, kw_only=True)
class ConsumerConfig:
    group: str
    consumer: str
    batch: int = 500
    block_ms: int = 200
    claim_idle_ms: int = 30_000
    retry_seconds: float = 0.5


class StreamConsumer:
    def __init__(
        self, redis: Redis, config: ConsumerConfig, handle: Handler, metrics: StreamMetrics
    ) -> None:
        self._redis = redis
        self._config = config
        self._handle = handle
        self._metrics = metrics

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._ensure_group()
                await self._drain_own_pending(stop)
                while not stop.is_set():
                    await self._claim_abandoned()
                    await self._read_new()
            except Exception as exc:  # transient, or a failure we cannot name: see the docstring
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    _log.warning(
                        "consumer group missing; recreating", extra={"group": self._config.group}
                    )
                    continue
                _log.warning(
                    "stream consumer backing off",
                    extra={"group": self._config.group, "reason": _reason(exc)},
                )
                await sleep_unless(stop, self._config.retry_seconds)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(USAGE_STREAM, self._config.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _drain_own_pending(self, stop: asyncio.Event) -> None:
        start = "0"
        while not stop.is_set():
            reply = await self._redis.xreadgroup(
                self._config.group,
                self._config.consumer,
                {USAGE_STREAM: start},
                count=self._config.batch,
            )
            entries = _entries(reply)
            if not entries:
                return
            await self._process(entries)
            start = _text(entries[-1][0])

    async def _claim_abandoned(self) -> None:
        reply = await self._redis.xautoclaim(
            USAGE_STREAM,
            self._config.group,
            self._config.consumer,
            min_idle_time=self._config.claim_idle_ms,
            start_id="0-0",
            count=self._config.batch,
        )
        claimed = [entry for entry in reply[1] if entry[1] is not None]
        if claimed:
            _log.info("claimed abandoned entries", extra={"count": len(claimed)})
            await self._process(claimed)

    async def _read_new(self) -> None:
        reply = await self._redis.xreadgroup(
            self._config.group,
            self._config.consumer,
            {USAGE_STREAM: ">"},
            count=self._config.batch,
            block=self._config.block_ms,
        )
        entries = _entries(reply)
        if entries:
            await self._process(entries)

    async def _process(self, entries: Sequence[tuple[Any, Any]]) -> None:
        ready: list[_Entry] = []
        for entry_id, fields in entries:
            raw = fields.get(EVENT_FIELD) if isinstance(fields, dict) else None
            if not isinstance(raw, bytes):
                await self._malformed(_text(entry_id), b"", None, "no event field")
                continue
            try:
                ready.append(_Entry(_text(entry_id), raw, decode(raw)))
            except UsageEventError as exc:
                await self._malformed(_text(entry_id), raw, exc.event_id, str(exc))
        if ready:
            await self._handle_isolating(ready)

    async def _handle_isolating(self, batch: Sequence[_Entry]) -> None:
        """Handle and acknowledge `batch`; on an incurable failure, split it until
        the entry at fault is alone, and set that one aside."""
        try:
            await self._handle([entry.event for entry in batch])
        except Exception as exc:
            if not incurable(exc):
                raise
            if len(batch) == 1:
                entry = batch[0]
                await self._set_aside(entry.entry_id, entry.raw, entry.event.event_id, exc)
                return
            _log.info(
                "batch failed on its data; splitting it",
                extra={"group": self._config.group, "count": len(batch), "reason": _reason(exc)},
            )
            half = len(batch) // 2
            await self._handle_isolating(batch[:half])
            await self._handle_isolating(batch[half:])
            return
        await self._redis.xack(USAGE_STREAM, self._config.group, *[e.entry_id for e in batch])
        self._metrics.processed.labels(self._config.group).inc(len(batch))

    async def _malformed(
        self, entry_id: str, raw: bytes, event_id: str | None, problem: str
    ) -> None:
        self._metrics.malformed.labels(self._config.group).inc()
        await self._set_aside(entry_id, raw, event_id, f"malformed: {problem}")

    async def _set_aside(
        self, entry_id: str, raw: bytes, event_id: str | None, reason: str | BaseException
    ) -> None:
        text = reason if isinstance(reason, str) else _reason(reason)
        dead_id = await dead_letters.set_aside(
            self._redis,
            stream=USAGE_STREAM,
            group=self._config.group,
            entry_id=entry_id,
            raw=raw,
            event_id=event_id,
            reason=text,
        )
        self._metrics.dead_lettered.labels(self._config.group).inc()
        _log.error(
            "stream entry set aside as a dead letter",
            extra={
                "group": self._config.group,
                "entry_id": entry_id,
                "event_id": None if event_id is None else dead_letters.shown(event_id, 80),
                "reason": dead_letters.shown(text, 200),
                "dead_letter": dead_id,
            },
        )


async def trim(redis: Redis, groups: Sequence[str] = GROUPS) -> int:
    """Trim below what every expected group has acknowledged; returns entries removed."""
    info = {_text(g["name"]): g for g in await redis.xinfo_groups(USAGE_STREAM)}
    if any(group not in info for group in groups):
        return 0  # a group that never read the stream still needs all of it
    floors = []
    for group in groups:
        summary = await redis.xpending(USAGE_STREAM, group)
        if summary["pending"]:
            floors.append(_id(summary["min"]))
        else:
            floors.append(_id(info[group]["last-delivered-id"]))
    lowest = min(floors)
    if lowest == (0, 0):
        return 0
    removed: int = await redis.xtrim(USAGE_STREAM, minid=f"{lowest[0]}-{lowest[1]}")
    return removed


async def observe(redis: Redis, metrics: StreamMetrics) -> None:
    """Stream length, and pending and lag of every group, into the gauges."""
    metrics.length.set(await redis.xlen(USAGE_STREAM))
    for group in await redis.xinfo_groups(USAGE_STREAM):
        name = _text(group["name"])
        metrics.pending.labels(name).set(group["pending"])
        if group.get("lag") is not None:
            metrics.lag.labels(name).set(group["lag"])


def _reason(exc: BaseException) -> str:
    """Why, for a log line or a dead letter: an error's message may quote the event."""
    return dead_letters.shown(f"{type(exc).__name__}: {exc}", dead_letters.REASON_MAX)


def _entries(reply: Any) -> list[tuple[Any, Any]]:
    if not reply:
        return []
    # RESP2 (redis-py's default protocol): [[stream, [(id, fields), ...]], ...]
    return [tuple(e) for _, stream_entries in reply for e in stream_entries]


def _id(value: bytes | str) -> tuple[int, int]:
    ms, _, seq = _text(value).partition("-")
    return int(ms), int(seq or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
