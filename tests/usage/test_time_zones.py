"""`GET /api/usage/summary?tz=`: days cut at the caller's local midnight.

A call at 23:30 UTC belongs to the next day in Asia/Shanghai (UTC+8); the days
of a change of offset in America/New_York last 23 and 25 hours and hold what
happened in them; an unknown zone is a 422 naming `tz`, like every other bad
parameter; `group_by=day,model` gives one row per day and model.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from multidict import MultiDict

from services.usage import params, store
from shared.errors import Unprocessable
from tests.accounts import sign_up
from tests.conftest import Stack
from tests.usage.api import get_answer, get_json, record
from tests.usage.factory import usage_event

LATE_EVENING = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)


def _days(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(row["day"], row["requests"]) for row in body["data"]]


def test_tz_is_an_iana_name_and_utc_by_default() -> None:
    assert params.summary_query(MultiDict()).time_zone == "UTC"
    chosen = params.summary_query(MultiDict([("tz", "Asia/Shanghai"), ("group_by", "day,model")]))
    assert (chosen.time_zone, chosen.group_by) == ("Asia/Shanghai", "day,model")
    for wrong in ("Mars/Base", "+08:00", "../etc/passwd", "asia/shanghai"):
        with pytest.raises(Unprocessable) as refused:
            params.summary_query(MultiDict([("tz", wrong)]))
        assert refused.value.message == "invalid query parameter: tz"
        assert refused.value.details == [
            "tz: must be an IANA time zone name such as Europe/Paris or Asia/Shanghai"
        ]


async def test_a_late_evening_call_counts_on_the_next_day_in_shanghai(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    await record(
        stack,
        [
            usage_event(me.id, at=LATE_EVENING, cost="0.5"),
            usage_event(me.id, at=LATE_EVENING - timedelta(hours=12), cost="0.25"),
            usage_event(uuid.uuid4(), at=LATE_EVENING, cost="9"),
        ],
    )
    utc = await get_json(stack.gateway, "/api/usage/summary", me, group_by="day")
    assert utc["time_zone"] == "UTC"
    assert _days(utc) == [("2025-03-01", 2)]
    shanghai = await get_json(
        stack.gateway, "/api/usage/summary", me, group_by="day", tz="Asia/Shanghai"
    )
    assert shanghai["time_zone"] == "Asia/Shanghai"
    assert _days(shanghai) == [("2025-03-01", 1), ("2025-03-02", 1)]
    assert [row["cost"] for row in shanghai["data"]] == ["0.25", "0.5"]
    assert shanghai["total"]["cost"] == "0.75"
    # The window's days are Shanghai's too: from its 2 March, the late call only.
    second = await get_json(
        stack.gateway,
        "/api/usage/summary",
        me,
        tz="Asia/Shanghai",
        **{"from": "2025-03-02T00:00:00+08:00", "to": "2025-03-03T00:00:00+08:00"},
    )
    assert _days(second) == [("2025-03-02", 1)]


@pytest.mark.parametrize(
    ("day", "hours"),
    [(datetime(2025, 3, 9, 5, tzinfo=UTC), 23), (datetime(2025, 11, 2, 4, tzinfo=UTC), 25)],
)
async def test_a_day_of_23_or_25_hours_in_new_york(stack: Stack, day: datetime, hours: int) -> None:
    """`day` is New York's midnight starting the day the clocks change."""
    me = await sign_up(stack.gateway)
    inside = [day + timedelta(minutes=1), day + timedelta(hours=hours, minutes=-1)]
    outside = [day - timedelta(minutes=1), day + timedelta(hours=hours)]
    await record(stack, [usage_event(me.id, at=moment) for moment in inside + outside])
    body = await get_json(
        stack.gateway,
        "/api/usage/summary",
        me,
        tz="America/New_York",
        **{"from": day.isoformat(), "to": (day + timedelta(hours=1)).isoformat()},
    )
    local_day = day.astimezone(UTC).date().isoformat()
    assert _days(body) == [(local_day, 2)]


async def test_per_day_and_model(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    await record(
        stack,
        [
            usage_event(me.id, at=LATE_EVENING, model="gpt-4o", cost="1"),
            usage_event(me.id, at=LATE_EVENING, model="claude", cost="2"),
            usage_event(me.id, at=LATE_EVENING + timedelta(days=1), model="gpt-4o", cost="3"),
            usage_event(me.id, at=LATE_EVENING + timedelta(days=1), model="gpt-4o", cost="4"),
        ],
    )
    utc = await get_json(stack.gateway, "/api/usage/summary", me, group_by="day,model")
    assert utc["group_by"] == "day,model"
    rows = [(r["day"], r["model"], r["requests"], r["cost"]) for r in utc["data"]]
    assert rows == [
        ("2025-03-01", "claude", 1, "2"),
        ("2025-03-01", "gpt-4o", 1, "1"),
        ("2025-03-02", "gpt-4o", 2, "7"),
    ]
    tokyo = await get_json(
        stack.gateway, "/api/usage/summary", me, group_by="day,model", tz="Asia/Tokyo"
    )
    rows = [(r["day"], r["model"], r["requests"], r["cost"]) for r in tokyo["data"]]
    assert rows == [
        ("2025-03-02", "claude", 1, "2"),
        ("2025-03-02", "gpt-4o", 1, "1"),
        ("2025-03-03", "gpt-4o", 2, "7"),
    ]
    by_model = await get_json(
        stack.gateway, "/api/usage/summary", me, group_by="model", tz="Asia/Tokyo"
    )
    assert [(r["model"], r["requests"]) for r in by_model["data"]] == [("claude", 1), ("gpt-4o", 3)]
    assert set(by_model["data"][0]) == set(utc["data"][0]) - {"day"}


async def test_an_unknown_zone_is_a_422_naming_tz(stack: Stack) -> None:
    me = await sign_up(stack.gateway)
    body = await get_answer(stack.gateway, "/api/usage/summary", me, 422, {"tz": "Nowhere/Land"})
    assert body["error"]["message"] == "invalid query parameter: tz"
    assert body["error"]["details"][0].startswith("tz: must be an IANA time zone name")


class _DatabaseWithOlderZones:
    """A database whose copy of the IANA database lacks a zone Python knows."""

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        raise asyncpg.InvalidParameterValueError('time zone "Asia/Shanghai" not recognized')


async def test_a_zone_the_database_does_not_know_is_a_422_not_a_500() -> None:
    window = params.Window()
    with pytest.raises(Unprocessable) as refused:
        await store.summary(_DatabaseWithOlderZones(), uuid.uuid4(), window, "day", "Asia/Shanghai")
    assert refused.value.message == "invalid query parameter: tz"
