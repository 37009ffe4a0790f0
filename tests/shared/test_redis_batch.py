"""Commands of one loop turn go in one pipeline; each caller gets its own reply or error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.redis_batch import CommandBatcher
from tests.conftest import REDIS_URL


async def test_each_caller_gets_its_own_reply(redis: aioredis.Redis) -> None:
    batch = CommandBatcher(redis)
    replies = await asyncio.gather(*(batch.execute("INCR", "batch:n") for _ in range(200)))
    assert sorted(replies) == list(range(1, 201))
    await batch.aclose()


async def test_a_failing_command_fails_only_its_caller(redis: aioredis.Redis) -> None:
    await redis.hset("batch:h", "f", "v")
    batch = CommandBatcher(redis)
    good, bad, other = (
        batch.execute("SET", "batch:s", "1"),
        batch.execute("INCR", "batch:h"),
        batch.execute("GET", "batch:s"),
    )
    assert await good == b"OK"
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await bad
    assert await other == b"1", "later commands in the batch still ran"
    await batch.aclose()


async def test_commands_of_one_turn_share_a_round_trip(redis: aioredis.Redis) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("PING")  # the connection is made
    before = batch.writes
    await asyncio.gather(*(batch.execute("INCR", "batch:rt") for _ in range(50)))
    assert batch.writes == before + 1
    await batch.execute("INCR", "batch:rt")
    await batch.execute("INCR", "batch:rt")
    assert batch.writes == before + 3, "one turn each when awaited one by one"
    await batch.aclose()


async def test_an_unreachable_redis_fails_every_caller() -> None:
    down = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    batch = CommandBatcher(down)
    results = await asyncio.gather(
        *(batch.execute("PING") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    await down.aclose()


async def test_an_unknown_script_is_noscript(redis: aioredis.Redis) -> None:
    batch = CommandBatcher(redis)
    with pytest.raises(NoScriptError):
        await batch.execute("EVALSHA", "0" * 40, 0)
    assert await batch.execute("PING") == b"PONG", "the connection stays usable"
    await batch.aclose()


async def test_arguments_are_packed_as_redis_takes_them(redis: aioredis.Redis) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("RPUSH", "batch:l", b"\x00raw", "text é", 42, 1.5)
    assert await redis.lrange("batch:l", 0, -1) == [b"\x00raw", "text é".encode(), b"42", b"1.5"]
    with pytest.raises(RedisError, match="bytes, str, int or float"):
        await batch.execute("SET", "batch:none", None)
    await batch.aclose()


async def test_a_lost_connection_fails_its_callers_and_the_next_command_reconnects(
    redis: aioredis.Redis,
) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("CLIENT", "SETNAME", "batch-victim")
    waiting = batch.execute("BLPOP", "batch:never", 0)
    await asyncio.sleep(0.05)
    await redis.client_kill_filter(_type="normal", skipme=True)
    with pytest.raises(RedisConnectionError):
        await waiting
    assert await batch.execute("PING") == b"PONG"
    await batch.aclose()


async def test_a_silent_server_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.3)
    batch = CommandBatcher(client)
    started = asyncio.get_running_loop().time()
    with pytest.raises(RedisTimeoutError):
        await batch.execute("PING")
    assert asyncio.get_running_loop().time() - started < 5
    await batch.aclose()
    for writer in accepted:
        writer.close()
    server.close()
    await server.wait_closed()
    await client.aclose()


def test_it_runs_on_uvloop_as_the_services_do() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def replies() -> list[Any]:
        client = aioredis.from_url(REDIS_URL)
        batch = CommandBatcher(client)
        try:
            async with asyncio.timeout(5):  # a reply never handed over would hang here
                return list(await asyncio.gather(*(batch.execute("PING") for _ in range(3))))
        finally:
            await batch.aclose()
            await client.aclose()

    assert uvloop.run(replies()) == [b"PONG"] * 3


async def test_a_lingering_command_rides_with_the_next_one_that_cannot_wait(
    redis: aioredis.Redis,
) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("PING")
    before = batch.writes
    lingering = batch.execute("INCR", "batch:linger", linger=True)
    await asyncio.sleep(0)  # a loop turn passes: a lingering command is not written yet
    assert batch.writes == before and not lingering.done()
    urgent = batch.execute("INCR", "batch:linger")
    assert sorted(await asyncio.gather(lingering, urgent)) == [1, 2]
    assert batch.writes == before + 1, "both went in one write"
    alone = batch.execute("INCR", "batch:linger", linger=True)
    assert await alone == 3, "alone, it is written once its linger is over"
    assert batch.writes == before + 2
    await batch.aclose()


async def test_work_after_a_write_runs_once_the_write_is_out(redis: aioredis.Redis) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("PING")
    seen: list[tuple[int, bool]] = []
    urgent: asyncio.Future[Any] | None = None

    def work() -> None:
        assert urgent is not None
        seen.append((batch.writes, urgent.done()))

    batch.after_write(work)
    before = batch.writes
    urgent = batch.execute("INCR", "batch:after")
    assert seen == [], "nothing runs before the write"
    assert await urgent == 1
    assert seen == [(before + 1, False)], "run just after the write, before its reply"
    await batch.aclose()


async def test_work_after_a_write_runs_without_one_and_queues_its_own_commands(
    redis: aioredis.Redis,
) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("PING")
    replies: list[asyncio.Future[Any]] = []
    ran = asyncio.Event()

    def failing() -> None:
        raise RuntimeError("a bug in one piece of work")

    def publish() -> None:
        replies.append(batch.execute("INCR", "batch:w", linger=True))
        ran.set()

    batch.after_write(failing)
    batch.after_write(publish)
    await asyncio.sleep(0)
    assert not ran.is_set(), "it waits for a write, or its linger"
    await asyncio.wait_for(ran.wait(), timeout=5)
    assert await replies[0] == 1, "the other work still ran, and its command went out"
    batch.after_write(publish)
    batch.run_after_write_work()  # at once: a drain, a scrape, a shutdown
    assert len(replies) == 2 and await replies[1] == 2
    await batch.aclose()


async def test_closing_fails_what_is_still_queued(redis: aioredis.Redis) -> None:
    batch = CommandBatcher(redis)
    await batch.execute("PING")
    lingering = batch.execute("INCR", "batch:closed", linger=True)
    queued_by_work: list[asyncio.Future[Any]] = []
    batch.after_write(lambda: queued_by_work.append(batch.execute("INCR", "batch:closed")))
    await batch.aclose()
    with pytest.raises(RedisConnectionError, match="closed"):
        await lingering
    (late,) = queued_by_work  # the work ran, and what it queued failed: not dropped unseen
    with pytest.raises(RedisConnectionError, match="closed"):
        await late
    await asyncio.sleep(0.01)  # past the linger: nothing reconnects to send it
    assert await redis.get("batch:closed") is None


async def test_closing_while_connecting_opens_no_connection() -> None:
    hung_up = asyncio.Event()

    async def greeting_unanswered(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await reader.read(1024):  # takes SELECT, never answers it
            pass
        hung_up.set()
        writer.close()

    server = await asyncio.start_server(greeting_unanswered, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/1", socket_timeout=30)
    batch = CommandBatcher(client)
    waiting = batch.execute("PING")
    await asyncio.sleep(0.05)  # connected; the greeting waits for its reply
    await batch.aclose()
    with pytest.raises(RedisConnectionError, match="closed"):
        await waiting
    async with asyncio.timeout(5):
        await hung_up.wait()  # the half-made connection was closed, not left open
    server.close()
    await server.wait_closed()
    await client.aclose()


async def test_a_command_after_the_close_fails_and_opens_no_connection(
    redis: aioredis.Redis,
) -> None:
    """Work scheduled before a shutdown may run after it (a request's last
    command): it fails, and never opens a connection nobody would close."""
    batch = CommandBatcher(redis)
    assert await batch.execute("PING") in (b"PONG", "PONG", True)
    await batch.aclose()
    clients_before = await redis.client_list()
    late = batch.execute("SET", "batch:late", "1")
    with pytest.raises(RedisConnectionError, match="closed"):
        await late
    await asyncio.sleep(0.05)  # a connection, had one been opened, would be up by now
    assert len(await redis.client_list()) == len(clients_before)
    assert await redis.get("batch:late") is None
