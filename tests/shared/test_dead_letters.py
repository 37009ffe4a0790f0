"""The dead-letter stream: set aside with the acknowledgement, resolved or retried once."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared import dead_letters
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM

RAW = b'{"v": 1, "event_id": "req_1"}'


async def _set_aside_one(redis: aioredis.Redis, reason: str = "DataError: boom") -> str:
    await redis.xgroup_create(USAGE_STREAM, "billing", id="0", mkstream=True)
    added: Any = await redis.xadd(USAGE_STREAM, {EVENT_FIELD: RAW})
    entry_id = added.decode()
    await redis.xreadgroup("billing", "c1", {USAGE_STREAM: ">"})
    return await dead_letters.set_aside(
        redis,
        stream=USAGE_STREAM,
        group="billing",
        entry_id=entry_id,
        raw=RAW,
        event_id="req_1",
        reason=reason,
    )


async def test_setting_aside_acknowledges_the_entry_in_its_group(redis: aioredis.Redis) -> None:
    dead_id = await _set_aside_one(redis)
    assert (await redis.xpending(USAGE_STREAM, "billing"))["pending"] == 0
    [letter] = await dead_letters.unresolved(redis)
    assert (letter.id, letter.group, letter.event_id, letter.event) == (
        dead_id,
        "billing",
        "req_1",
        RAW,
    )
    assert letter.reason == "DataError: boom"


async def test_a_reason_is_capped_and_escaped(redis: aioredis.Redis) -> None:
    await _set_aside_one(redis, reason="\x1b[31m" + "x" * 10_000)
    [letter] = await dead_letters.listing(redis)
    assert letter.reason.startswith("\\x{1b}[31m") and "\x1b" not in letter.reason
    assert letter.reason.endswith(f"…(+{10_005 - dead_letters.REASON_MAX} chars)")


async def test_resolving_keeps_who_and_why_and_happens_once(redis: aioredis.Redis) -> None:
    dead_id = await _set_aside_one(redis)
    assert await dead_letters.resolve(redis, dead_id, by="ops", note="refunded by hand")
    assert not await dead_letters.resolve(redis, dead_id, by="other", note="again")
    assert await dead_letters.unresolved(redis) == []
    [letter] = await dead_letters.listing(redis)
    assert letter.resolution is not None
    assert (letter.resolution.action, letter.resolution.by) == ("resolved", "ops")
    assert letter.resolution.note == "refunded by hand" and letter.resolution.at


async def test_retrying_adds_the_raw_event_to_the_stream_once(redis: aioredis.Redis) -> None:
    dead_id = await _set_aside_one(redis)
    letter = await dead_letters.find(redis, dead_id)
    assert letter is not None
    new_id = await dead_letters.retry(
        redis, letter, stream=USAGE_STREAM, field=EVENT_FIELD, by="ops", note="fixed"
    )
    assert new_id is not None
    entries: Any = await redis.xrange(USAGE_STREAM, min=new_id, max=new_id)
    assert entries[0][1] == {EVENT_FIELD: RAW}
    again = await dead_letters.retry(
        redis, letter, stream=USAGE_STREAM, field=EVENT_FIELD, by="ops", note="fixed"
    )
    assert again is None and await redis.xlen(USAGE_STREAM) == 2
    found = await dead_letters.find(redis, dead_id)
    assert found is not None and found.resolution is not None
    assert (found.resolution.action, found.resolution.retried_as) == ("retried", new_id)


async def test_an_unknown_id_is_not_found(redis: aioredis.Redis) -> None:
    assert await dead_letters.find(redis, "1-1") is None
