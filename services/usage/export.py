"""Exporting all of a user's usage records (DESIGN.md section 8), streamed.

Rules:

- Rows are read with a server-side cursor inside one read-only, repeatable
  read transaction (one consistent snapshot, however long the export takes)
  and written to the client as they come, a bounded chunk at a time: an
  export never sits in memory whole.
- Everything that can fail cleanly fails before the first byte: the
  connection and the transaction are opened first, so a database outage is
  an ordinary 503.
- Once the answer has started, a failure cannot become an error status; the
  connection is aborted instead, so the client sees a truncated transfer and
  never a short file that looks complete.
- `csv`: a header line, then one line per record. `json`: one JSON array of
  record objects, the same objects `GET /api/usage` returns.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.usage import render, store
from services.usage.errors import database_boundary
from services.usage.params import ExportFormat, ExportQuery
from shared.db import DatabaseUnavailable

_log = logging.getLogger(__name__)

PREFETCH = 500  # rows per round trip to the server-side cursor
BATCH_ROWS = 100  # rows rendered at a time
CHUNK_BYTES = 64 * 1024  # written to the client once this much is rendered
_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


async def export(
    request: web.Request, pool: Any, user_id: uuid.UUID, query: ExportQuery
) -> web.StreamResponse:
    """Stream the caller's records, newest first, in the asked format."""
    sql, args = store.export_statement(user_id, query.window)
    response: web.StreamResponse | None = None
    try:
        with database_boundary():
            async with pool.acquire() as connection:
                transaction = connection.transaction(readonly=True, isolation="repeatable_read")
                async with transaction:
                    rows = connection.cursor(sql, *args, prefetch=PREFETCH)
                    response = await _start(request, query)
                    await _write(response, rows, query.format)
    except Exception as exc:
        if response is None:
            raise
        _abort(request, exc)
        return response
    await response.write_eof()
    return response


async def _start(request: web.Request, query: ExportQuery) -> web.StreamResponse:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = web.StreamResponse(
        headers={
            "Content-Type": _CONTENT_TYPES[query.format],
            "Content-Disposition": f'attachment; filename="usage-{stamp}.{query.format}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    return response


async def _write(response: web.StreamResponse, rows: Any, export_format: ExportFormat) -> None:
    body = render.JsonBody() if export_format == "json" else render.CsvBody()
    buffered = bytearray(body.opening())
    batch: list[Mapping[str, Any]] = []
    async for row in rows:
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            buffered += body.rows(batch)
            batch.clear()
            if len(buffered) >= CHUNK_BYTES:
                await response.write(bytes(buffered))
                buffered.clear()
    buffered += body.rows(batch) + body.closing()
    await response.write(bytes(buffered))


def _abort(request: web.Request, exc: BaseException) -> None:
    """Cut the connection: the client must see an incomplete transfer."""
    expected = isinstance(exc, DatabaseUnavailable | ConnectionError)
    _log.warning(
        "usage export interrupted",
        extra={"reason": type(exc).__name__},
        exc_info=None if expected else exc,
    )
    if request.transport is not None:
        request.transport.abort()
