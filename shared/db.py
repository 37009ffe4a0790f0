"""The PostgreSQL pool: one per process, JSON columns decoded with orjson.

`asyncpg` errors that mean "the database is not there" are mapped here to
`DatabaseUnavailable`, so handlers answer 503 instead of a traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson

from shared.errors import ServiceUnavailable


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"


async def _init_connection(connection: Any) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


@asynccontextmanager
async def pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> AsyncIterator[Any]:
    """An asyncpg pool, closed on exit."""
    try:
        created = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection, timeout=10
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        yield created
    finally:
        await created.close()


async def ping(db: Any) -> bool:
    try:
        return bool(await db.fetchval("SELECT 1", timeout=2))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
