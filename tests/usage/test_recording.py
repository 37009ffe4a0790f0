"""`record_batch`: each event recorded once, daily aggregates counted once.

Against the real PostgreSQL schema; the expected aggregates are computed here
from the events themselves, independently of the SQL under test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from services.usage.recording import RecordResult
from services.usage.recording import record_batch as record_decoded
from shared.usage_event import read
from tests.usage.factory import BASE_TIME, series, usage_event

SUMMED = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


async def record_batch(pool: Any, events: list[dict[str, Any]]) -> RecordResult:
    """`record_batch` given the events as the stream consumer gives them: decoded."""
    return await record_decoded(pool, [read(event) for event in events])


async def _daily(db: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM usage.daily")
    return {(str(row["user_id"]), row["day"].isoformat(), row["model"]): dict(row) for row in rows}


async def test_the_same_event_twice_in_a_batch_is_recorded_once(pool: Any) -> None:
    user = uuid.uuid4()
    event = usage_event(user, "req_twice")
    result = await record_batch(pool, [event, dict(event), usage_event(user, "req_other")])
    assert result == RecordResult(recorded=2, duplicates=1)
    assert await pool.fetchval("SELECT count(*) FROM usage.records") == 2
    assert await pool.fetchval("SELECT sum(requests) FROM usage.daily") == 2


async def test_a_redelivered_batch_changes_nothing(pool: Any) -> None:
    user = uuid.uuid4()
    events = series(user, 10)
    assert (await record_batch(pool, events)).recorded == 10
    before = await _daily(pool)
    again = await record_batch(pool, events[5:] + [usage_event(user, "req_new")])
    assert again == RecordResult(recorded=1, duplicates=5)
    after = await _daily(pool)
    (key,) = after
    assert after[key]["requests"] == before[key]["requests"] + 1 == 11
    assert after[key]["input_tokens"] == 11 * 100
    assert await pool.fetchval("SELECT count(*) FROM usage.records") == 11


async def test_a_replayed_event_with_other_numbers_keeps_the_first(pool: Any) -> None:
    user = uuid.uuid4()
    await record_batch(pool, [usage_event(user, "req_1", input_tokens=10)])
    await record_batch(pool, [usage_event(user, "req_1", input_tokens=99_999)])
    assert await pool.fetchval("SELECT input_tokens FROM usage.records") == 10
    assert await pool.fetchval("SELECT input_tokens FROM usage.daily") == 10


async def test_concurrent_overlapping_batches_record_each_event_once(pool: Any) -> None:
    user = uuid.uuid4()
    events = series(user, 300)
    batches = [events[0:200], events[100:300], events[50:250], events[::-1]]
    results = await asyncio.gather(*(record_batch(pool, batch) for batch in batches))
    assert sum(result.recorded for result in results) == 300
    assert await pool.fetchval("SELECT count(*) FROM usage.records") == 300
    assert await pool.fetchval("SELECT sum(requests) FROM usage.daily") == 300


async def test_daily_aggregates_add_up_per_user_day_and_model(pool: Any) -> None:
    users = [uuid.uuid4(), uuid.uuid4()]
    events = []
    for n in range(60):
        failed = n % 7 == 0
        events.append(
            usage_event(
                users[n % 2],
                f"req_{n}",
                # 23:50 UTC onward, 25 minutes apart: the batch spans UTC midnight.
                at=BASE_TIME.replace(hour=23, minute=50) + timedelta(minutes=25 * n),
                model=("gpt-4o", "claude-sonnet-4", "gemini-2.5-pro")[n % 3],
                input_tokens=n,
                output_tokens=2 * n,
                cache_read_tokens=n % 5,
                cache_write_tokens=n % 3,
                reasoning_tokens=n % 2,
                status="upstream_error" if failed else "ok",
                http_status=502 if failed else 200,
                cost=None if n % 4 == 0 else f"0.{n:03d}001",
            )
        )
    # Two batches, the second repeating part of the first.
    await record_batch(pool, events[:40])
    await record_batch(pool, events[30:])
    expected: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: (
            {"requests": 0, "errors": 0, "cost": Decimal(0), "reasoning_tokens": 0}
            | dict.fromkeys(SUMMED, 0)
        )
    )
    for event in events:
        day = event["ts"][:10]
        row = expected[(event["user_id"], day, event["requested_model"])]
        row["requests"] += 1
        row["errors"] += event["status"] != "ok"
        row["cost"] += Decimal(event["cost"] or 0)
        for name in (*SUMMED, "reasoning_tokens"):
            row[name] += event[name]
    daily = await _daily(pool)
    assert len({key[1] for key in daily}) >= 2  # several days
    assert set(daily) == set(expected)
    for key, row in expected.items():
        assert {name: daily[key][name] for name in row} == row, key


async def test_the_nul_model_event_of_a_refused_request_is_recorded(pool: Any) -> None:
    """Issue 15: a client's model "\\u0000" reaches the event; the record keeps the rest."""
    user = uuid.uuid4()
    event = usage_event(user, "req_nul", model="\x00", user_agent="a\x00b\ud800")
    event.update(upstream_model=None, status="rejected", http_status=404, error_code="\x00")
    assert await record_batch(pool, [event]) == RecordResult(recorded=1, duplicates=0)
    row = await pool.fetchrow("SELECT model, user_agent, error_code, status FROM usage.records")
    assert tuple(row) == ("", "ab", None, "rejected")
    assert await record_batch(pool, [event]) == RecordResult(recorded=0, duplicates=1)


async def test_an_empty_batch_touches_nothing(pool: Any) -> None:
    assert await record_batch(pool, []) == RecordResult(recorded=0, duplicates=0)
    assert await pool.fetchval("SELECT count(*) FROM usage.records") == 0


async def test_a_record_keeps_the_event_fields(pool: Any) -> None:
    user = uuid.uuid4()
    event = usage_event(user, "req_kept", client_ip="2001:db8::1", cost="0.123456789012")
    await record_batch(pool, [event])
    row = await pool.fetchrow("SELECT *, host(client_ip) AS ip FROM usage.records")
    assert row["user_id"] == user and row["key_id"] == uuid.UUID(event["key_id"])
    assert row["occurred_at"] == BASE_TIME
    assert row["cost"] == Decimal("0.123456789012")
    assert row["ip"] == "2001:db8::1"
    assert (row["latency_ms"], row["ttfb_ms"], row["stream"]) == (840.25, 120.5, True)
