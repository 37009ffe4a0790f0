"""The billing schema's SQL for prices.

Prices are versions keyed by (model, effective_from) and never edited: a new
price is a new row (the table refuses UPDATE and DELETE). A version at an
existing (model, effective_from) is a `Conflict`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.billing.pricing import Price
from shared.errors import Conflict

_COLUMNS = (
    "model, effective_from, input, output, cache_read, cache_write, web_search, max_output_tokens"
)


def _price(row: Any) -> Price:
    return Price(**dict(row))


async def versions_for(connection: Any, models: Sequence[str]) -> dict[str, list[Price]]:
    """Every version of each model, oldest first."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM billing.prices WHERE model = ANY($1::text[]) "
        "ORDER BY model, effective_from",
        sorted(set(models)),
    )
    versions: dict[str, list[Price]] = {}
    for row in rows:
        versions.setdefault(row["model"], []).append(_price(row))
    return versions


async def history(connection: Any, model: str) -> list[Price]:
    """The model's versions, newest first."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM billing.prices WHERE model = $1 ORDER BY effective_from DESC",
        model,
    )
    return [_price(row) for row in rows]


async def current_and_future(connection: Any) -> list[Price]:
    """For every model: the version in force now, and every later one."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM ("
        f"  SELECT DISTINCT ON (model) {_COLUMNS} FROM billing.prices "
        "  WHERE effective_from <= now() ORDER BY model, effective_from DESC"
        ") AS current "
        f"UNION ALL SELECT {_COLUMNS} FROM billing.prices WHERE effective_from > now() "
        "ORDER BY model, effective_from"
    )
    return [_price(row) for row in rows]


async def add_version(
    connection: Any,
    *,
    model: str,
    effective_from: datetime | None,
    rates: dict[str, Decimal],
    max_output_tokens: int,
    created_by: uuid.UUID | None,
) -> Price:
    """Add a version; `effective_from` None means now (the database's clock).
    `rates` holds input, output, cache_read, cache_write and web_search."""
    try:
        row = await connection.fetchrow(
            "INSERT INTO billing.prices (model, effective_from, input, output, cache_read, "
            "cache_write, web_search, max_output_tokens, created_by) "
            "VALUES ($1, COALESCE($2, now()), $3, $4, $5, $6, $7, $8, $9) "
            f"RETURNING {_COLUMNS}",
            model,
            effective_from,
            rates["input"],
            rates["output"],
            rates["cache_read"],
            rates["cache_write"],
            rates["web_search"],
            max_output_tokens,
            created_by,
        )
    except asyncpg.UniqueViolationError:
        when = "now" if effective_from is None else effective_from.isoformat()
        raise Conflict(f"{model} already has a price version from {when}") from None
    return _price(row)
