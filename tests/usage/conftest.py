"""Fixtures of the usage tests: a pool on the run's database, emptied afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared import db as shared_db


@pytest.fixture
async def pool(database_url: str, db: Any) -> AsyncIterator[Any]:
    """An asyncpg pool like the service's; `db` empties the tables after the test."""
    async with shared_db.pool(database_url, max_size=4) as created:
        yield created
