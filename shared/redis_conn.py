"""The Redis client: one per process, from `redis.asyncio`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.exceptions import RedisError

Redis = aioredis.Redis


@asynccontextmanager
async def client(url: str) -> AsyncIterator[Redis]:
    connection: Redis = aioredis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    try:
        yield connection
    finally:
        await connection.aclose()


async def ping(connection: Redis) -> bool:
    try:
        return bool(await connection.ping())
    except (RedisError, OSError, TimeoutError):
        return False
