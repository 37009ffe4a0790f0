"""Commands from concurrent requests, sent to Redis in one pipeline per loop turn.

Under load many requests want Redis at the same moment (a hold to place, a
usage event to publish). Each queues its command here and awaits its own
reply; the first command of a loop turn schedules one flush for the next
turn, which sends every queued command in one pipeline (no MULTI: each
command, script calls included, stays atomic on its own, and no command
waits for another's result) and hands each caller its reply, or its own
error. At concurrency 1 nothing waits longer than one loop turn; under load,
N commands cost one round trip and one pass through the client library
instead of N.

A caller that is cancelled while it waits does not unsend its command: as
with any Redis call, a command may have run even when its caller never saw
the reply.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

from shared import tasks
from shared.redis_conn import Redis

MAX_BATCH = 512

_Queued = tuple[tuple[Any, ...], "asyncio.Future[Any]"]


class CommandBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: list[_Queued] = []

    def execute(self, *command: Any) -> asyncio.Future[Any]:
        """Queue one command (`"XADD", stream, "*", field, value`); its reply, awaitable."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush_queued)
        self._queue.append((command, reply))
        return reply

    def _flush_queued(self) -> None:
        queue, self._queue = self._queue, []
        for start in range(0, len(queue), MAX_BATCH):
            tasks.spawn(self._send(queue[start : start + MAX_BATCH]), name="redis-batch")

    async def _send(self, queue: list[_Queued]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for command, _ in queue:
                    pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            for _, reply in queue:
                if not reply.done():
                    reply.set_exception(exc)
            return
        except BaseException:
            for _, reply in queue:
                if not reply.done():
                    reply.set_exception(RedisError("the batch was cancelled"))
            raise
        for (_, reply), answer in zip(queue, replies, strict=True):
            if reply.done():
                continue  # its caller was cancelled
            if isinstance(answer, Exception):
                reply.set_exception(answer)
            else:
                reply.set_result(answer)
