"""The overview: the balance (held, available), spend today and this month,
and charts of spend and tokens per day and per model over 7, 30 or 90 days.

Days are the visitor's (`render.time_zone_of`): "today" and "this month" start
at their local midnight, as the summary's days do (`tz`). One summary call
covers the longer of the period and the month so far; the charts are drawn
here as SVG (`charts`), and `?days=` is a plain link, so the page needs no
script.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from services.console import charts
from services.console.api_client import call
from services.console.render import render, signed_in, time_zone_of

PERIODS = (7, 30, 90)


def period_of(request: web.Request) -> int:
    """The `?days=` asked for, when it is one of ours; a week otherwise."""
    asked = request.query.get("days", "")
    return int(asked) if asked in {str(days) for days in PERIODS} else PERIODS[0]


def _start_of(day: date, zone: ZoneInfo) -> str:
    """`day`'s local midnight, as the UTC time the API takes."""
    moment = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _spend(rows: list[Mapping[str, Any]], since: date) -> str:
    total = sum(
        (Decimal(str(row["cost"])) for row in rows if date.fromisoformat(row["day"]) >= since),
        Decimal(0),
    )
    return charts.money(total)


async def overview(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    zone_name = time_zone_of(request, visitor.me)
    zone = ZoneInfo(zone_name)
    today = datetime.now(zone).date()
    days = period_of(request)
    shown = charts.period(today, days)
    first = min(shown[0], today.replace(day=1))
    balance = await call(request, "GET", "/api/billing/balance")
    query = urlencode({"group_by": "day,model", "tz": zone_name, "from": _start_of(first, zone)})
    summary = await call(request, "GET", f"/api/usage/summary?{query}")
    usage: dict[str, Any] | None = None
    if summary.ok and isinstance(summary.body, dict):
        rows: list[Mapping[str, Any]] = summary.body.get("data", [])
        spend, tokens = charts.aligned(rows, shown)
        usage = {
            "today": _spend(rows, today),
            "month": _spend(rows, today.replace(day=1)),
            "spend": spend,
            "tokens": tokens,
        }
    context = {
        **visitor.context(),
        "balance": balance.body if balance.ok else None,
        "usage": usage,
        "time_zone": zone_name,
        "zone_chosen": bool(visitor.me.get("time_zone")),
        "days": days,
        "periods": PERIODS,
        "today": today,
    }
    return render(request, "overview.html", context)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", overview)
