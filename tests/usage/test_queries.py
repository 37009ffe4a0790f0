"""`GET /api/usage` and `/api/usage/summary` through the gateway, as a real user.

Events are recorded for the signed-up user and for someone else; every answer
must hold the caller's records only.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.accounts import create_key, sign_up
from tests.conftest import Stack
from tests.usage.api import every_page, get_answer, get_json, record
from tests.usage.factory import BASE_TIME, iso, series, usage_event


async def test_the_callers_records_newest_first_with_every_field(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    older = usage_event(me.id, "req_old", at=BASE_TIME, cost=None)
    newer = usage_event(
        me.id, "req_new", at=BASE_TIME + timedelta(minutes=1), cost="0.001500000000"
    )
    await record(stack, [older, newer, usage_event(uuid.uuid4(), "req_someone_else")])
    body = await get_json(stack.gateway, "/api/usage", me)
    assert [r["event_id"] for r in body["data"]] == ["req_new", "req_old"]
    assert body["next_cursor"] is None
    first = body["data"][0]
    assert first == {
        "event_id": "req_new",
        "occurred_at": "2025-03-01T12:01:00Z",
        "key_id": newer["key_id"],
        "model": "gpt-4o-mini",
        "endpoint": "openai_chat",
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_tokens": 5,
        "cache_write_tokens": 0,
        "reasoning_tokens": 3,
        "cost": "0.0015",
        "status": "ok",
        "http_status": 200,
        "error_code": None,
        "latency_ms": 840.25,
        "ttfb_ms": 120.5,
        "client_ip": "203.0.113.7",
        "user_agent": "OpenAI/Python 1.40.0",
        "stream": True,
        "usage_source": "upstream",
        "partial": False,
    }
    assert body["data"][1]["cost"] is None


async def test_pages_cover_every_record_once_in_order(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    events = series(me.id, 37)
    # Ties: several records share a timestamp; the cursor must not skip or repeat them.
    for n in range(10, 20):
        events[n]["ts"] = iso(BASE_TIME + timedelta(minutes=10))
    await record(stack, events)
    pages = await every_page(stack.gateway, me, limit="5")
    assert [len(page) for page in pages] == [5] * 7 + [2]
    seen = [event_id for page in pages for event_id in page]
    assert len(seen) == len(set(seen)) == 37
    whole = await get_json(stack.gateway, "/api/usage", me, limit="500")
    assert seen == [r["event_id"] for r in whole["data"]]
    times = [r["occurred_at"] for r in whole["data"]]
    assert times == sorted(times, reverse=True)


async def test_an_exact_last_page_ends_with_a_null_cursor(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    await record(stack, series(me.id, 10))
    pages = await every_page(stack.gateway, me, limit="5")
    assert [len(page) for page in pages] == [5, 5]


async def test_filters_by_time_and_model(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    events = series(me.id, 10, step_s=3600)  # 12:00, 13:00, ... 21:00
    for event in events[::2]:
        event["requested_model"] = "claude-sonnet-4"
    await record(stack, events)
    window = {"from": "2025-03-01T14:00:00Z", "to": "2025-03-01T18:00:00+00:00"}
    body = await get_json(stack.gateway, "/api/usage", me, **window)
    assert [r["event_id"] for r in body["data"]] == [f"req_{n:05d}" for n in (5, 4, 3, 2)]
    body = await get_json(stack.gateway, "/api/usage", me, model="claude-sonnet-4", **window)
    assert [r["event_id"] for r in body["data"]] == ["req_00004", "req_00002"]
    pages = await every_page(stack.gateway, me, limit="2", model="gpt-4o-mini")
    assert [e for page in pages for e in page] == [f"req_{n:05d}" for n in (9, 7, 5, 3, 1)]
    nothing = await get_json(stack.gateway, "/api/usage", me, model="no-such-model")
    assert nothing == {"data": [], "next_cursor": None}


async def test_a_user_never_sees_another_users_records(stack: Stack) -> None:
    me, other = await sign_up(stack.gateway), await sign_up(stack.gateway)
    await record(stack, series(other.id, 5))
    assert (await get_json(stack.gateway, "/api/usage", me))["data"] == []
    summary = await get_json(stack.gateway, "/api/usage/summary", me, group_by="model")
    assert summary["data"] == []
    # Someone else's cursor only moves through one's own records.
    theirs = await get_json(stack.gateway, "/api/usage", other, limit="2")
    mine = await get_json(
        stack.gateway, "/api/usage", me, cursor=theirs["next_cursor"], limit="500"
    )
    assert mine["data"] == []


async def test_an_api_key_may_read_its_users_usage(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    key = await create_key(stack.gateway, me)
    await record(stack, series(me.id, 3))
    headers = {"Authorization": f"Bearer {key['key']}"}
    response = await stack.gateway.get("/api/usage", headers=headers)
    assert response.status == 200, await response.text()
    assert len((await response.json())["data"]) == 3


@pytest.mark.parametrize(
    "path", ["/api/usage", "/api/usage/summary", "/api/usage/totals", "/api/usage/export"]
)
async def test_no_credentials_is_401(stack: Stack, path: str) -> None:
    response = await stack.gateway.get(path)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/api/usage", {"limit": "0"}, "limit"),
        ("/api/usage", {"limit": "501"}, "limit"),
        ("/api/usage", {"limit": "many"}, "limit"),
        ("/api/usage", {"from": "last tuesday"}, "from"),
        ("/api/usage", {"to": "2025-02-30"}, "to"),
        ("/api/usage", {"from": "2025-03-02", "to": "2025-03-01"}, "to"),
        ("/api/usage", {"cursor": "not-a-cursor"}, "cursor"),
        ("/api/usage/summary", {"group_by": "week"}, "group_by"),
        ("/api/usage/summary", {"from": "soon"}, "from"),
        ("/api/usage/summary", {"status": "ok"}, "status"),
        ("/api/usage/totals", {"key_id": "tg-abc"}, "key_id"),
        ("/api/usage/totals", {"status": "fine"}, "status"),
        ("/api/usage/export", {"format": "xlsx"}, "format"),
        ("/api/usage/export", {"to": "never"}, "to"),
    ],
)
async def test_a_bad_parameter_is_a_422_naming_it(
    stack: Stack, path: str, query: dict[str, str], name: str
) -> None:
    me = await sign_up(stack.gateway)
    body: dict[str, Any] = await get_answer(stack.gateway, path, me, 422, query)
    error = body["error"]
    assert error["code"] == "validation_failed"
    assert name in error["message"]
    assert [line.split(":")[0] for line in error["details"]] == [name]


async def test_summary_by_day_and_by_model(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    day_one, day_two = BASE_TIME, BASE_TIME + timedelta(days=1)
    events = [
        usage_event(me.id, "a", at=day_one, model="gpt-4o", cost="0.10"),
        usage_event(me.id, "b", at=day_one, model="claude", cost="0.25", status="upstream_error"),
        usage_event(me.id, "c", at=day_two, model="gpt-4o", cost=None, output_tokens=7),
        usage_event(uuid.uuid4(), "d", at=day_one, model="gpt-4o", cost="9"),
    ]
    await record(stack, events)
    by_day = await get_json(stack.gateway, "/api/usage/summary", me, group_by="day")
    assert by_day["group_by"] == "day"
    assert by_day["data"] == [
        {
            "day": "2025-03-01",
            "requests": 2,
            "input_tokens": 200,
            "output_tokens": 40,
            "cache_read_tokens": 10,
            "cache_write_tokens": 0,
            "reasoning_tokens": 6,
            "errors": 1,
            "cost": "0.35",
        },
        {
            "day": "2025-03-02",
            "requests": 1,
            "input_tokens": 100,
            "output_tokens": 7,
            "cache_read_tokens": 5,
            "cache_write_tokens": 0,
            "reasoning_tokens": 3,
            "errors": 0,
            "cost": "0",
        },
    ]
    assert by_day["total"]["requests"] == 3 and by_day["total"]["cost"] == "0.35"
    by_model = await get_json(stack.gateway, "/api/usage/summary", me, group_by="model")
    assert [(r["model"], r["requests"], r["errors"], r["cost"]) for r in by_model["data"]] == [
        ("claude", 1, 1, "0.25"),
        ("gpt-4o", 2, 0, "0.1"),
    ]
    only_day_two = await get_json(
        stack.gateway, "/api/usage/summary", me, group_by="model", **{"from": "2025-03-02"}
    )
    assert [(r["model"], r["output_tokens"]) for r in only_day_two["data"]] == [("gpt-4o", 7)]
    first_day = await get_json(
        stack.gateway, "/api/usage/summary", me, **{"from": "2025-03-01", "to": "2025-03-02"}
    )
    assert [r["day"] for r in first_day["data"]] == ["2025-03-01"]


async def test_filters_by_key_and_status(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    events = series(me.id, 6, step_s=60)
    key_a, key_b = events[0]["key_id"], events[1]["key_id"]
    for n, event in enumerate(events):
        event["key_id"] = key_a if n % 2 == 0 else key_b
    events[2]["status"] = "upstream_error"
    events[3]["status"] = "rejected"
    await record(stack, events)

    def ids(body: dict[str, Any]) -> list[str]:
        return [r["event_id"] for r in body["data"]]

    by_key = await get_json(stack.gateway, "/api/usage", me, key_id=key_a)
    assert ids(by_key) == ["req_00004", "req_00002", "req_00000"]
    failed = await get_json(stack.gateway, "/api/usage", me, status="error")
    assert ids(failed) == ["req_00003", "req_00002"]
    rejected = await get_json(stack.gateway, "/api/usage", me, status="rejected", key_id=key_b)
    assert ids(rejected) == ["req_00003"]
    ok = await get_json(stack.gateway, "/api/usage", me, status="ok", key_id=key_b)
    assert ids(ok) == ["req_00005", "req_00001"]


async def test_totals_sum_exactly_what_the_listing_filters(stack: Stack) -> None:
    me, other = await sign_up(stack.gateway), await sign_up(stack.gateway)
    events = series(me.id, 6, step_s=1800)  # 12:00, 12:30, ... 14:30
    key = events[0]["key_id"]
    for n, event in enumerate(events):
        event["cost"] = f"0.00{n + 1}"
        event["output_tokens"] = n
        if n % 3 == 0:
            event["key_id"] = key
    events[4]["status"] = "upstream_error"
    events[5]["cost"] = None
    theirs = [usage_event(other.id, f"theirs_{n}", cost="5") for n in range(3)]
    await record(stack, [*events, *theirs])

    everything = await get_json(stack.gateway, "/api/usage/totals", me)
    assert everything == {
        "requests": 6,
        "input_tokens": 600,
        "output_tokens": 15,
        "cache_read_tokens": 30,
        "cache_write_tokens": 0,
        "reasoning_tokens": 18,
        "errors": 1,
        "cost": "0.015",
    }
    # Part of an hour: the daily summary cannot total it; the totals can.
    window = {"from": "2025-03-01T12:30:00Z", "to": "2025-03-01T14:00:00Z"}
    part = await get_json(stack.gateway, "/api/usage/totals", me, **window)
    listed = await get_json(stack.gateway, "/api/usage", me, **window)
    assert part["requests"] == len(listed["data"]) == 3
    assert part["output_tokens"] == sum(r["output_tokens"] for r in listed["data"]) == 6
    assert part["cost"] == "0.009"
    keyed = await get_json(stack.gateway, "/api/usage/totals", me, key_id=key)
    assert (keyed["requests"], keyed["cost"]) == (2, "0.005")
    errors = await get_json(stack.gateway, "/api/usage/totals", me, status="error")
    assert (errors["requests"], errors["errors"], errors["cost"]) == (1, 1, "0.005")
    nothing = await get_json(stack.gateway, "/api/usage/totals", me, model="no-such-model")
    assert (nothing["requests"], nothing["cost"], nothing["output_tokens"]) == (0, "0", 0)
    other_totals = await get_json(stack.gateway, "/api/usage/totals", other)
    assert (other_totals["requests"], other_totals["cost"]) == (3, "15")


async def test_the_export_takes_the_same_filters(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    events = series(me.id, 4)
    events[1]["status"] = "client_disconnected"
    await record(stack, events)
    response = await stack.gateway.get(
        "/api/usage/export",
        params={"format": "json", "status": "error", "key_id": events[1]["key_id"]},
        headers=me.headers,
    )
    assert response.status == 200, await response.text()
    assert [r["event_id"] for r in await response.json(content_type=None)] == ["req_00001"]
