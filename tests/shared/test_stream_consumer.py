"""The stream consumer never stalls behind one entry, and still waits out outages.

Against the real Redis stream; handlers are test doubles with a database's
all-or-nothing batches (a batch that raises commits nothing), or billing's
real handler on a PostgreSQL that refuses connections.
"""

from __future__ import annotations

import asyncio
import decimal
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from services.billing.consumer import BillingConsumer, ChargeMetrics
from shared import dead_letters
from shared.holds import Holds
from shared.stream_consumer import (
    EVENT_FIELD,
    USAGE_STREAM,
    ConsumerConfig,
    StreamConsumer,
    StreamMetrics,
    incurable,
)
from shared.usage_event import UsageEvent
from tests.ports import free_ports
from tests.usage.factory import usage_event

GROUP = "billing"
USER = uuid.uuid4()
NUL_ERROR = 'invalid byte sequence for encoding "UTF8": 0x00'


class Ledger:
    """A handler double: all or nothing per batch, like one database transaction."""

    def __init__(self, refuse: Callable[[list[UsageEvent]], BaseException | None]) -> None:
        self.refuse = refuse
        self.committed: Counter[str] = Counter()
        self.calls = 0

    async def handle(self, events: list[UsageEvent]) -> None:
        self.calls += 1
        failure = self.refuse(events)
        if failure is not None:
            raise failure
        self.committed.update(event.event_id for event in events)


def refusing(event_id: str, error: BaseException) -> Callable[[list[UsageEvent]], Any]:
    return lambda events: error if any(e.event_id == event_id for e in events) else None


async def _publish(redis: aioredis.Redis, *event_ids: str) -> None:
    for event_id in event_ids:
        await redis.xadd(USAGE_STREAM, {EVENT_FIELD: orjson.dumps(usage_event(USER, event_id))})


async def _group(redis: aioredis.Redis) -> dict[str, Any]:
    for group in await redis.xinfo_groups(USAGE_STREAM):
        if group["name"] == GROUP.encode():
            return dict(group)
    return {"pending": None, "lag": None}


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


class Running:
    def __init__(self, redis: aioredis.Redis, handle: Any, **config: Any) -> None:
        self.registry = CollectorRegistry()
        self.consumer = StreamConsumer(
            redis,
            ConsumerConfig(group=GROUP, consumer="c1", block_ms=20, **config),
            handle,
            StreamMetrics(self.registry, GROUP),
        )
        self.stop = asyncio.Event()
        self.redis = redis

    async def __aenter__(self) -> Running:
        self.task = asyncio.get_running_loop().create_task(self.consumer.run(self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await self.task

    async def caught_up(self) -> None:
        async def done() -> bool:
            group = await _group(self.redis)
            return bool(group["pending"] == 0 and group["lag"] == 0)

        await _until(done, "the group caught up")

    def count(self, name: str) -> float:
        value = self.registry.get_sample_value(
            f"tollgate_stream_events_{name}_total", {"group": GROUP}
        )
        return value or 0.0


async def test_one_event_the_database_refuses_is_set_aside_and_the_rest_committed(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"req_{n:02d}" for n in range(16)]
    poison = asyncpg.exceptions.CharacterNotInRepertoireError(NUL_ERROR)
    ledger = Ledger(refusing("req_11", poison))
    await _publish(redis, *ids)
    with caplog.at_level(logging.INFO, logger="shared.stream_consumer"):
        async with Running(redis, ledger.handle) as running:
            await running.caught_up()
            # Bisected, not retried one by one: 16, then 8 + 8, 4 + 4, 2 + 2, 1 + 1.
            assert ledger.calls == 9
            await _publish(redis, "req_after_1", "req_after_2")
            await running.caught_up()
    good = [i for i in ids if i != "req_11"] + ["req_after_1", "req_after_2"]
    assert ledger.committed == Counter(good)  # each once, the bad one never
    [letter] = await dead_letters.listing(redis)
    entries: Any = await redis.xrange(USAGE_STREAM, min=letter.entry_id, max=letter.entry_id)
    raw = entries[0][1]
    assert (letter.group, letter.event_id, letter.event) == (GROUP, "req_11", raw[EVENT_FIELD])
    assert letter.reason.startswith("CharacterNotInRepertoireError: invalid byte sequence")
    assert letter.resolution is None and letter.at
    assert running.count("dead_lettered") == 1 and running.count("processed") == len(good)
    logged = [r for r in caplog.records if r.getMessage().startswith("stream entry set aside")]
    assert len(logged) == 1 and logged[0].__dict__["event_id"] == "req_11"


async def test_entries_that_are_not_events_are_set_aside_not_dropped(
    redis: aioredis.Redis,
) -> None:
    await _publish(redis, "req_a")
    await redis.xadd(USAGE_STREAM, {EVENT_FIELD: b"\xffnot json"})
    await redis.xadd(USAGE_STREAM, {EVENT_FIELD: b"[1, 2, 3]"})
    await redis.xadd(USAGE_STREAM, {b"other": b"field"})
    bad_count = usage_event(USER, "req_negative", input_tokens=-1)
    await redis.xadd(USAGE_STREAM, {EVENT_FIELD: orjson.dumps(bad_count)})
    await _publish(redis, "req_b")
    ledger = Ledger(lambda events: None)
    async with Running(redis, ledger.handle) as running:
        await running.caught_up()
    assert ledger.committed == Counter(["req_a", "req_b"])
    letters = await dead_letters.listing(redis)
    assert [letter.event for letter in letters] == [
        b"\xffnot json",
        b"[1, 2, 3]",
        b"",
        orjson.dumps(bad_count),
    ]
    assert all(letter.reason.startswith("malformed: ") for letter in letters)
    assert [letter.event_id for letter in letters] == [None, None, None, "req_negative"]
    assert "input_tokens" in letters[3].reason
    assert running.count("malformed") == 4 and running.count("dead_lettered") == 4


async def test_a_refused_database_connection_backs_off_and_sets_nothing_aside(
    redis: aioredis.Redis,
) -> None:
    (port,) = free_ports(1)
    pool = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{port}/x", min_size=0)
    billing = BillingConsumer(pool, Holds(redis), ChargeMetrics(CollectorRegistry()))
    failures: list[BaseException] = []

    async def handle(events: list[UsageEvent]) -> None:
        try:
            await billing.handle(events)
        except BaseException as exc:
            failures.append(exc)
            raise

    await _publish(redis, "req_1", "req_2", "req_3")
    async with Running(redis, handle, retry_seconds=0.01):

        async def retried() -> bool:
            return len(failures) >= 4

        await _until(retried, "the batch retried")
    await pool.close()
    assert all(isinstance(f, OSError) and not incurable(f) for f in failures)
    assert await dead_letters.listing(redis) == []
    assert (await _group(redis))["pending"] == 3  # still there for when PostgreSQL is back


async def test_a_transient_failure_retries_the_batch_whole_until_it_commits(
    redis: aioredis.Redis,
) -> None:
    outages = [asyncpg.exceptions.CannotConnectNowError("the database system is starting up")]
    outages += [asyncpg.exceptions.DeadlockDetectedError("deadlock detected")]
    outages += [RedisConnectionError("Connection refused")]

    def refuse(events: list[UsageEvent]) -> BaseException | None:
        return outages.pop(0) if outages else None

    ledger = Ledger(refuse)
    await _publish(redis, "req_1", "req_2")
    async with Running(redis, ledger.handle, retry_seconds=0.01) as running:
        await running.caught_up()
    assert ledger.committed == Counter(["req_1", "req_2"]) and ledger.calls == 4
    assert await dead_letters.listing(redis) == []


@pytest.mark.parametrize(
    ("error", "cured_by_retrying"),
    [
        (asyncpg.exceptions.CharacterNotInRepertoireError(NUL_ERROR), False),
        (asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"), False),
        (asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax"), False),
        (asyncpg.exceptions.NotNullViolationError("null value"), False),
        (asyncpg.exceptions.CheckViolationError("violates check constraint"), False),
        (ValueError("bad value"), False),
        (OverflowError("date value out of range"), False),
        (decimal.InvalidOperation(), False),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), True),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), True),
        (asyncpg.exceptions.SerializationError("could not serialize"), True),
        (asyncpg.exceptions.CannotConnectNowError("starting up"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.exceptions.UndefinedTableError("relation does not exist"), True),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (TimeoutError(), True),
        (RedisConnectionError("Connection refused"), True),
        (TypeError("a bug"), True),
    ],
)
def test_what_retrying_cannot_cure(error: BaseException, cured_by_retrying: bool) -> None:
    assert incurable(error) is not cured_by_retrying


@pytest.mark.parametrize("value", [2**40, "a\ud800"])
async def test_an_argument_asyncpg_cannot_encode_is_incurable(db: Any, value: object) -> None:
    with pytest.raises(asyncpg.DataError) as refused:
        await db.fetchval("SELECT $1::int" if isinstance(value, int) else "SELECT $1::text", value)
    assert incurable(refused.value)
