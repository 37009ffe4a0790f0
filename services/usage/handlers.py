"""Usage over HTTP: the caller's records, their totals, their summary, their export.

Handlers parse, call the store, render. Each one starts with
`caller(request).require_user()` (401 without a user) and passes that id to
every query: a user only ever sees their own usage. API keys may read these
routes (the gateway allows GET with a key).

The one exception is `GET /api/admin/usage?user_id=` (admin role: the gateway
checks it, and `require_admin` again here): the same page of records for the
account an admin names, so the console's account page shows its recent calls.
Unknown ids read as an account without records (usage knows users only by
their records).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from services.usage import cursor, export, params, render, store
from shared.internal import caller
from shared.service import DB


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def list_records(request: web.Request) -> web.Response:
    """`GET /api/usage`: records newest first, one page at a time."""
    user_id = caller(request).require_user()
    return await _records(request, user_id, params.page_query(request.query))


async def admin_records(request: web.Request) -> web.Response:
    """`GET /api/admin/usage?user_id=`: an account's records for an admin, as
    `GET /api/usage` answers them to the account itself."""
    caller(request).require_admin()
    user_id, query = params.admin_page_query(request.query)
    return await _records(request, user_id, query)


async def _records(
    request: web.Request, user_id: uuid.UUID, query: params.PageQuery
) -> web.Response:
    rows, next_position = await store.page(request.app[DB], user_id, query)
    return _json(
        {
            "data": [render.record(row) for row in rows],
            "next_cursor": cursor.encode(next_position) if next_position else None,
        }
    )


async def summary(request: web.Request) -> web.Response:
    """`GET /api/usage/summary`: sums per day, per model or per day and model,
    days cut at the midnight of the `tz` zone (UTC by default)."""
    user_id = caller(request).require_user()
    query = params.summary_query(request.query)
    rows = await store.summary(
        request.app[DB], user_id, query.window, query.group_by, query.time_zone
    )
    data = [render.summary_row(row, query.group_by.split(",")) for row in rows]
    total = render.total(data)
    return _json(
        {"group_by": query.group_by, "time_zone": query.time_zone, "data": data, "total": total}
    )


async def totals(request: web.Request) -> web.Response:
    """`GET /api/usage/totals`: sums over exactly the records `GET /api/usage` lists
    for the same filters (every page, not one)."""
    user_id = caller(request).require_user()
    query = params.totals_query(request.query)
    row = await store.totals(request.app[DB], user_id, query.window)
    return _json(render.totals(row))


async def export_records(request: web.Request) -> web.StreamResponse:
    """`GET /api/usage/export`: every matching record, streamed as CSV or JSON."""
    user_id = caller(request).require_user()
    query = params.export_query(request.query)
    return await export.export(request, request.app[DB], user_id, query)
