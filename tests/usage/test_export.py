"""`GET /api/usage/export`: all of the caller's records as CSV or JSON, streamed."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from services.usage.export import CHUNK_BYTES
from services.usage.render import RECORD_FIELDS
from shared import internal
from tests.accounts import Account, sign_up
from tests.conftest import INTERNAL_TOKEN, Stack
from tests.usage.api import get_json, record
from tests.usage.factory import BASE_TIME, series, usage_event


async def _export(stack: Stack, account: Account, **query: str) -> tuple[str, str]:
    response = await stack.gateway.get("/api/usage/export", params=query, headers=account.headers)
    assert response.status == 200, await response.text()
    return response.headers["Content-Type"], await response.text()


async def test_csv_holds_every_record_of_the_caller_only(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    await record(stack, series(me.id, 12) + series(uuid.uuid4(), 3, start=BASE_TIME))
    content_type, text = await _export(stack, me, format="csv")
    assert content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == RECORD_FIELDS
    assert [row["event_id"] for row in rows] == [f"req_{n:05d}" for n in range(11, -1, -1)]
    listed = await get_json(stack.gateway, "/api/usage", me, limit="1")
    first = listed["data"][0]
    assert rows[0] == {
        name: (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
        for name, value in first.items()
    }


async def test_json_is_the_records_the_listing_returns(stack: Stack) -> None:
    me, other = await sign_up(stack.gateway), await sign_up(stack.gateway)
    await record(stack, series(me.id, 7) + [usage_event(other.id, "req_theirs")])
    content_type, text = await _export(stack, me, format="json")
    assert content_type.startswith("application/json")
    exported: list[dict[str, Any]] = orjson.loads(text)
    listed = await get_json(stack.gateway, "/api/usage", me, limit="500")
    assert exported == listed["data"]
    _, nothing = await _export(stack, await sign_up(stack.gateway), format="json")
    assert orjson.loads(nothing) == []


async def test_the_export_window_and_model_filter(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    events = series(me.id, 6, step_s=86400)  # one a day from 2025-03-01
    events[3]["requested_model"] = "claude"
    await record(stack, events)
    _, text = await _export(stack, me, format="json", **{"from": "2025-03-02", "to": "2025-03-05"})
    assert [r["event_id"] for r in orjson.loads(text)] == ["req_00003", "req_00002", "req_00001"]
    _, text = await _export(stack, me, format="csv", model="claude")
    assert [row["event_id"] for row in csv.DictReader(io.StringIO(text))] == ["req_00003"]


async def test_a_cell_a_spreadsheet_would_run_is_defused(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    await record(
        stack,
        [usage_event(me.id, "req_f", user_agent='=HYPERLINK("http://x")', model="+cmd")],
    )
    _, text = await _export(stack, me)
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["user_agent"] == '\'=HYPERLINK("http://x")'
    assert row["model"] == "'+cmd"
    _, raw = await _export(stack, me, format="json")
    assert orjson.loads(raw)[0]["user_agent"] == '=HYPERLINK("http://x")'


async def test_a_large_export_is_streamed_in_chunks(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    events = [
        usage_event(me.id, f"req_{n:05d}", at=BASE_TIME + timedelta(seconds=n)) for n in range(1500)
    ]
    for offset in range(0, len(events), 500):
        await record(stack, events[offset : offset + 500])
    # Straight to the usage service, as the gateway calls it: no Content-Length,
    # the body arrives in chunks as the cursor is read.
    response = await stack.gateway.session.get(
        stack.usage.make_url("/api/usage/export"),
        params={"format": "csv"},
        headers={internal.TOKEN_HEADER: INTERNAL_TOKEN, internal.USER_HEADER: me.id},
    )
    assert response.status == 200
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.headers
    body = await response.read()
    assert len(body) > 3 * CHUNK_BYTES  # several writes of at most a chunk's worth
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 1500 and len({row["event_id"] for row in rows}) == 1500
    _, through_gateway = await _export(stack, me)
    assert through_gateway.encode() == body


async def test_an_export_cut_short_by_the_database_is_never_a_complete_file(
    stack: Stack, db: Any
) -> None:
    me = await sign_up(stack.gateway)
    events = [
        usage_event(me.id, f"req_{n:06d}", at=BASE_TIME + timedelta(seconds=n))
        for n in range(20_000)
    ]
    for offset in range(0, len(events), 5000):
        await record(stack, events[offset : offset + 5000])
    response = await stack.gateway.session.get(
        stack.usage.make_url("/api/usage/export"),
        params={"format": "json"},
        headers={internal.TOKEN_HEADER: INTERNAL_TOKEN, internal.USER_HEADER: me.id},
    )
    assert response.status == 200
    await response.content.readexactly(CHUNK_BYTES)
    # The export's connection holds its cursor open in a transaction.
    killed = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND xact_start IS NOT NULL AND query LIKE '%FROM usage.records%'"
    )
    assert killed == 1
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
