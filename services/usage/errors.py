"""The usage service's errors, and the one boundary that maps asyncpg's.

    shared.errors.Unprocessable    422  a bad query parameter; details name it
    shared.db.DatabaseUnavailable  503  PostgreSQL does not answer

`database_boundary()` wraps every query the HTTP handlers make: losing the
server (connection refused or reset, an administrator's shutdown, a timeout)
becomes `DatabaseUnavailable`, answered with 503. Any other database error is
a bug and propagates unchanged (a bare 500). Recording is not wrapped: the
stream consumer backs off on asyncpg's own errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from shared.db import DatabaseUnavailable

DATABASE_GONE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


@contextmanager
def database_boundary() -> Iterator[None]:
    try:
        yield
    except DATABASE_GONE as exc:
        raise DatabaseUnavailable("PostgreSQL is unavailable") from exc
