"""The usage schema's read SQL: a page of records, the export, the summary.

Every query filters by the caller's user id first (`WHERE user_id = $1`), so
no parameter, cursor or model name can reach another user's rows. Filters are
added only when given, so each query keeps its index range: records are read
from `(user_id, occurred_at DESC, event_id)` newest first, ties by event id.
Values always travel as parameters; the only text spliced into SQL comes from
this module's fixed column names.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.usage.cursor import Cursor
from services.usage.errors import database_boundary
from services.usage.params import GroupBy, PageQuery, Window

RECORD_COLUMNS = """
    event_id, occurred_at, key_id, model, endpoint,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost, status, http_status, error_code, latency_ms, ttfb_ms,
    host(client_ip) AS client_ip, user_agent, stream, usage_source, partial
"""
_NEWEST_FIRST = "ORDER BY occurred_at DESC, event_id"
_TOTALS = """
    sum(requests)::bigint AS requests,
    sum(input_tokens)::bigint AS input_tokens,
    sum(output_tokens)::bigint AS output_tokens,
    sum(cache_read_tokens)::bigint AS cache_read_tokens,
    sum(cache_write_tokens)::bigint AS cache_write_tokens,
    sum(reasoning_tokens)::bigint AS reasoning_tokens,
    sum(errors)::bigint AS errors,
    sum(cost) AS cost
"""


class _Conditions:
    """A WHERE clause and its parameters, built one condition at a time."""

    def __init__(self, user_id: uuid.UUID) -> None:
        self.clauses = ["user_id = $1"]
        self.args: list[Any] = [user_id]

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses)


def _record_conditions(
    user_id: uuid.UUID, window: Window, after: Cursor | None = None
) -> _Conditions:
    where = _Conditions(user_id)
    if window.start is not None:
        where.add(f"occurred_at >= {where.param(window.start)}")
    if window.end is not None:
        where.add(f"occurred_at < {where.param(window.end)}")
    if window.model is not None:
        where.add(f"model = {where.param(window.model)}")
    if after is not None:
        # Newest first, ties by ascending id: the rows after the cursor's row.
        at, event_id = where.param(after.occurred_at), where.param(after.event_id)
        where.add(f"occurred_at <= {at} AND (occurred_at < {at} OR event_id > {event_id})")
    return where


async def page(db: Any, user_id: uuid.UUID, query: PageQuery) -> tuple[list[Any], Cursor | None]:
    """One page of the caller's records, and the cursor of the next (None at the end)."""
    where = _record_conditions(user_id, query.window, query.after)
    limit = where.param(query.limit + 1)
    with database_boundary():
        rows = await db.fetch(
            f"SELECT {RECORD_COLUMNS} FROM usage.records "
            f"WHERE {where.sql} {_NEWEST_FIRST} LIMIT {limit}",
            *where.args,
        )
    if len(rows) <= query.limit:
        return list(rows), None
    last = rows[query.limit - 1]
    return list(rows[: query.limit]), Cursor(last["occurred_at"], last["event_id"])


def export_statement(user_id: uuid.UUID, window: Window) -> tuple[str, list[Any]]:
    """The query behind an export, for a server-side cursor, and its parameters."""
    where = _record_conditions(user_id, window)
    return (
        f"SELECT {RECORD_COLUMNS} FROM usage.records WHERE {where.sql} {_NEWEST_FIRST}",
        where.args,
    )


async def summary(db: Any, user_id: uuid.UUID, window: Window, group_by: GroupBy) -> list[Any]:
    """Daily aggregates summed per day or per model, over the UTC days the window overlaps."""
    where = _Conditions(user_id)
    first_day, after_last_day = window.days()
    if first_day is not None:
        where.add(f"day >= {where.param(first_day)}")
    if after_last_day is not None:
        where.add(f"day < {where.param(after_last_day)}")
    if window.model is not None:
        where.add(f"model = {where.param(window.model)}")
    key = "day" if group_by == "day" else "model"
    with database_boundary():
        rows: list[Any] = await db.fetch(
            f"SELECT {key}, {_TOTALS} FROM usage.daily WHERE {where.sql} "
            f"GROUP BY {key} ORDER BY {key}",
            *where.args,
        )
    return rows
