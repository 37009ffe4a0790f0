"""Commands of one loop turn go in one pipeline; each caller gets its own reply or error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from shared.redis_batch import CommandBatcher


async def test_each_caller_gets_its_own_reply(redis: aioredis.Redis) -> None:
    batch = CommandBatcher(redis)
    replies = await asyncio.gather(*(batch.execute("INCR", "batch:n") for _ in range(200)))
    assert sorted(replies) == list(range(1, 201))


async def test_a_failing_command_fails_only_its_caller(redis: aioredis.Redis) -> None:
    await redis.hset("batch:h", "f", "v")
    batch = CommandBatcher(redis)
    good, bad, other = (
        batch.execute("SET", "batch:s", "1"),
        batch.execute("INCR", "batch:h"),
        batch.execute("GET", "batch:s"),
    )
    assert await good is True
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await bad
    assert await other == b"1", "later commands in the batch still ran"


async def test_commands_of_one_turn_share_a_round_trip(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("PING")  # the connection is made
    pipelines: list[object] = []
    original = redis.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        pipelines.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(redis, "pipeline", counting)
    await asyncio.gather(*(batch.execute("INCR", "batch:rt") for _ in range(50)))
    assert len(pipelines) == 1
    await batch.execute("INCR", "batch:rt")
    await batch.execute("INCR", "batch:rt")
    assert len(pipelines) == 3, "one turn each when awaited one by one"


async def test_an_unreachable_redis_fails_every_caller() -> None:
    down = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    batch = CommandBatcher(down)
    results = await asyncio.gather(
        *(batch.execute("PING") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    await down.aclose()
