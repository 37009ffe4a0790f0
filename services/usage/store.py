"""The usage schema's read SQL: a page of records, the export, the totals, the summary.

Every query filters by the caller's user id first (`WHERE user_id = $1`), so
no parameter, cursor or model name can reach another user's rows. Filters are
added only when given, so each query keeps its index range: records are read
from `(user_id, occurred_at DESC, event_id)` newest first, ties by event id.
Values always travel as parameters; the only text spliced into SQL comes from
this module's fixed column names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.usage.cursor import Cursor
from services.usage.errors import database_boundary
from services.usage.params import ANY_ERROR, GroupBy, PageQuery, Window
from shared.errors import Unprocessable
from shared.time_zones import UTC_NAME

RECORD_COLUMNS = """
    event_id, occurred_at, key_id, model, endpoint,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost, status, http_status, error_code, latency_ms, ttfb_ms,
    host(client_ip) AS client_ip, user_agent, stream, usage_source, partial
"""
_NEWEST_FIRST = "ORDER BY occurred_at DESC, event_id"
# The daily aggregates' columns summed from records (recording.py adds them up the same way).
_RECORD_SUMS = """
    count(*) AS requests,
    coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
    coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
    coalesce(sum(cache_read_tokens), 0)::bigint AS cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write_tokens,
    coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
    count(*) FILTER (WHERE status <> 'ok') AS errors,
    coalesce(sum(cost), 0) AS cost
"""
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
    if window.key_id is not None:
        where.add(f"key_id = {where.param(window.key_id)}")
    if window.status == ANY_ERROR:
        where.add("status <> 'ok'")
    elif window.status is not None:
        where.add(f"status = {where.param(window.status)}")
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


_RECORD_TOTALS = """
    count(*) AS requests,
    coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
    coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
    coalesce(sum(cache_read_tokens), 0)::bigint AS cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write_tokens,
    coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
    count(*) FILTER (WHERE status <> 'ok') AS errors,
    coalesce(sum(cost), 0) AS cost
"""


async def totals(db: Any, user_id: uuid.UUID, window: Window) -> Any:
    """The sums over exactly the records a page or an export of `window` reads."""
    where = _record_conditions(user_id, window)
    with database_boundary():
        return await db.fetchrow(
            f"SELECT {_RECORD_TOTALS} FROM usage.records WHERE {where.sql}", *where.args
        )


async def summary(
    db: Any, user_id: uuid.UUID, window: Window, group_by: GroupBy, time_zone: str = UTC_NAME
) -> list[Any]:
    """Sums per day, per model or per day and model, over the days the window
    overlaps: UTC days from the daily aggregates, or the days of `time_zone`
    (cut at its midnight, so 23 or 25 hours long across a change of offset)
    from the records."""
    keys = ", ".join(group_by.split(","))
    if time_zone != UTC_NAME:
        return await _local_summary(db, user_id, window, group_by, time_zone)
    where = _Conditions(user_id)
    first_day, after_last_day = window.days()
    if first_day is not None:
        where.add(f"day >= {where.param(first_day)}")
    if after_last_day is not None:
        where.add(f"day < {where.param(after_last_day)}")
    if window.model is not None:
        where.add(f"model = {where.param(window.model)}")
    with database_boundary():
        rows: list[Any] = await db.fetch(
            f"SELECT {keys}, {_TOTALS} FROM usage.daily WHERE {where.sql} "
            f"GROUP BY {keys} ORDER BY {keys}",
            *where.args,
        )
    return rows


@contextmanager
def _zone_unknown_to_postgres() -> Iterator[None]:
    """PostgreSQL keeps its own copy of the IANA database: a zone Python knows
    and it does not (an older copy) is the client's 422, not a 500."""
    try:
        yield
    except asyncpg.InvalidParameterValueError as exc:
        raise Unprocessable(
            "invalid query parameter: tz",
            details=["tz: a zone this service's database does not know yet; try a nearby city"],
        ) from exc


def _local_midnight(moment: datetime, zone: ZoneInfo, *, after: bool) -> datetime:
    """The start of the local day holding `moment` (`after`: of the next day,
    unless `moment` is a local midnight itself). A midnight the clocks skip
    reads with the offset before the change: the instant the day starts."""
    local = moment.astimezone(zone)
    day = local.date()
    if after and local.time() != time(0):
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone)


async def _local_summary(
    db: Any, user_id: uuid.UUID, window: Window, group_by: GroupBy, time_zone: str
) -> list[Any]:
    zone = ZoneInfo(time_zone)
    where = _Conditions(user_id)
    keys = group_by.split(",")
    columns = ", ".join(
        f"(occurred_at AT TIME ZONE {where.param(time_zone)})::date AS day" if key == "day" else key
        for key in keys
    )
    if window.start is not None:
        first = _local_midnight(window.start, zone, after=False)
        where.add(f"occurred_at >= {where.param(first)}")
    if window.end is not None:
        after_last = _local_midnight(window.end, zone, after=True)
        where.add(f"occurred_at < {where.param(after_last)}")
    if window.model is not None:
        where.add(f"model = {where.param(window.model)}")
    with database_boundary(), _zone_unknown_to_postgres():
        rows: list[Any] = await db.fetch(
            f"SELECT {columns}, {_RECORD_SUMS} FROM usage.records WHERE {where.sql} "
            f"GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}",
            *where.args,
        )
    return rows
