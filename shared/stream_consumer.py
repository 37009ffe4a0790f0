"""Consuming the usage event stream in a consumer group, exactly once in effect.

The loop keeps DESIGN.md section 5's rules:

- on (re)start it first re-reads its own pending entries (delivered before a
  crash, never acknowledged), then claims entries other consumers left
  pending longer than `claim_idle_ms` (`XAUTOCLAIM`), then reads new ones;
- an entry is acknowledged only after the handler returned, that is after its
  database transaction committed; the handler is idempotent by event id, so a
  redelivery changes nothing;
- a missing group (`NOGROUP`, after a Redis restart without the stream, or a
  deleted group) is recreated from the start of the stream, never from `$`;
- Redis or PostgreSQL trouble backs off and retries; entries stay pending.

`trim` removes entries only below the oldest one some expected group has not
acknowledged, never by a blind MAXLEN.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import RedisError, ResponseError

from shared.redis_conn import Redis
from shared.tasks import sleep_unless

USAGE_STREAM = "tg:usage"
EVENT_FIELD = b"e"
GROUPS = ("billing", "usage")

Handler = Callable[[list[dict[str, Any]]], Awaitable[None]]
_log = logging.getLogger(__name__)


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
            "Stream entries that were not usage events.",
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
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                _log.warning(
                    "consumer group missing; recreating", extra={"group": self._config.group}
                )
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _log.warning(
                    "stream consumer backing off",
                    extra={"group": self._config.group, "reason": f"{type(exc).__name__}: {exc}"},
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
        events: list[dict[str, Any]] = []
        for entry_id, fields in entries:
            try:
                event = orjson.loads(fields[EVENT_FIELD])
                if not isinstance(event, dict):
                    raise ValueError("not an object")
                events.append(event)
            except (KeyError, ValueError, TypeError):
                # Acknowledged with the batch: a malformed entry would block the group forever.
                self._metrics.malformed.labels(self._config.group).inc()
                _log.error("malformed stream entry", extra={"entry_id": _text(entry_id)})
        if events:
            await self._handle(events)
        await self._redis.xack(USAGE_STREAM, self._config.group, *[e[0] for e in entries])
        self._metrics.processed.labels(self._config.group).inc(len(events))


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
