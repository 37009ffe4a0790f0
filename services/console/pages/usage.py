"""The usage log: the visitor's relayed requests, filtered, totalled, a page at a time.

Everything shown comes from the usage API, with the same filters on each call:

- `GET /api/usage` for the page of records (cursor pagination, newest first);
- `GET /api/usage/totals` for the totals row: the whole filtered range, every
  page, summed by the API (never by adding up the page here);
- the "Export CSV" link is `GET /api/usage/export` with exactly those filters,
  opened by the browser itself (its cookie through the gateway; a GET needs no
  CSRF token), so the file holds the rows the log filters, all of them;
- `GET /api/usage/summary?group_by=model` for the models the visitor has used
  (the model filter's choices) and `GET /api/keys` for key names.

The form is a plain GET form; times are typed in the visitor's zone
(`time_zone_of`) and sent to the API as UTC. Quick ranges are links with the
start already worked out. Pagination is forward by the API's cursor; the
cursors of the pages before travel in `trail`, so "Previous" is a link too.
With htmx the form swaps the results section only and pushes the URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from services.console.api_client import call
from services.console.render import render, signed_in, time_zone_of

# The API's statuses (services/usage/params.py STATUSES, plus "error": any but ok).
STATUSES = ("ok", "error", "upstream_error", "client_disconnected", "rejected")
QUICK_RANGES = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
    ("30d", timedelta(days=30)),
)
PAGE_SIZE = 50
MAX_TRAIL = 50  # earlier pages remembered for "Previous"; beyond that, "First page"
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,512}")
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
_FIELD_LIMIT = 200


def _text(request: web.Request, name: str) -> str:
    value = request.query.get(name, "").strip()
    return value[:_FIELD_LIMIT]


def to_utc(local: str, zone: ZoneInfo) -> str | None:
    """A `datetime-local` (or date) typed in `zone`, as the UTC time the API takes;
    None when it is not a time."""
    try:
        moment = datetime.fromisoformat(local)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_time(utc_text: str, zone: ZoneInfo) -> str:
    """An API time (`...Z`) as the visitor reads it, in their zone."""
    try:
        moment = datetime.fromisoformat(utc_text)
    except ValueError:
        return utc_text
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


class Filters:
    """The page's filters as typed (for the form and links) and as the API takes them."""

    def __init__(self, request: web.Request, zone: ZoneInfo) -> None:
        self.typed = {name: _text(request, name) for name in ("from", "to", "model", "key_id")}
        status = _text(request, "status")
        self.typed["status"] = status if status in STATUSES else ""
        self.bad_times = [
            name
            for name in ("from", "to")
            if self.typed[name] and to_utc(self.typed[name], zone) is None
        ]
        self.api: dict[str, str] = {}
        for name in ("from", "to"):
            if self.typed[name] and (utc := to_utc(self.typed[name], zone)):
                self.api[name] = utc
        for name in ("model", "key_id", "status"):
            if self.typed[name]:
                self.api[name] = self.typed[name]

    def link(self, **extra: str) -> str:
        """The usage page with these filters (and `extra`), for links."""
        query = {name: value for name, value in {**self.typed, **extra}.items() if value}
        return "/usage" + (f"?{urlencode(query)}" if query else "")


def _trail(request: web.Request) -> list[str]:
    parts = [part for part in _text_long(request, "trail").split(".") if part]
    if not all(_CURSOR.fullmatch(part) for part in parts):
        return []
    return parts[-MAX_TRAIL:]


def _text_long(request: web.Request, name: str) -> str:
    return request.query.get(name, "")[: 513 * MAX_TRAIL]


def _cursor(request: web.Request) -> str:
    raw = request.query.get("cursor", "")
    return raw if _CURSOR.fullmatch(raw) else ""


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 200 else PAGE_SIZE


def _pages(filters: Filters, cursor: str, trail: list[str], next_cursor: Any, limit: int) -> Any:
    extra = {"limit": str(limit)} if limit != PAGE_SIZE else {}
    pages: dict[str, str | None] = {"next": None, "previous": None, "first": None}
    if isinstance(next_cursor, str) and _CURSOR.fullmatch(next_cursor):
        walked = [*trail, cursor] if cursor else trail
        pages["next"] = filters.link(
            cursor=next_cursor, trail=".".join(walked[-MAX_TRAIL:]), **extra
        )
    if cursor:
        back = trail[:-1]
        previous = trail[-1] if trail else ""
        pages["previous"] = filters.link(cursor=previous, trail=".".join(back), **extra)
        if trail:
            pages["first"] = filters.link(**extra)
    return pages


def _problem(answer_details: list[str]) -> list[str]:
    """Which of the filters the API refused (their names), for the page's sentences."""
    names = [line.split(":", 1)[0].strip() for line in answer_details]
    return [name for name in names if name in {"from", "to", "model", "key_id", "status", "cursor"}]


async def usage(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    zone_name = time_zone_of(request, visitor.me)
    zone = ZoneInfo(zone_name)
    filters = Filters(request, zone)
    cursor, trail, limit = _cursor(request), _trail(request), _limit(request)

    keys_answer = await call(request, "GET", "/api/keys")
    keys = keys_answer.body.get("data", []) if keys_answer.ok else []
    key_names = {key["id"]: key["name"] for key in keys if isinstance(key, dict)}
    models_answer = await call(request, "GET", "/api/usage/summary?group_by=model")
    models = sorted(
        {row["model"] for row in models_answer.body.get("data", [])} if models_answer.ok else set()
    )
    if filters.typed["model"] and filters.typed["model"] not in models:
        models.append(filters.typed["model"])

    records: list[dict[str, Any]] = []
    totals: Mapping[str, Any] | None = None
    refused: list[str] = list(filters.bad_times)
    unavailable = False
    pages: Any = {"next": None, "previous": None, "first": None}
    if not refused:
        page_query = {**filters.api, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        listed = await call(request, "GET", f"/api/usage?{urlencode(page_query)}")
        if listed.ok and isinstance(listed.body, dict):
            records = [_row(record, key_names, zone) for record in listed.body["data"]]
            pages = _pages(filters, cursor, trail, listed.body.get("next_cursor"), limit)
            summed = await call(request, "GET", f"/api/usage/totals?{urlencode(filters.api)}")
            totals = summed.body if summed.ok and isinstance(summed.body, dict) else None
        elif listed.status == 422:
            refused = _problem(listed.error_details) or ["other"]
        else:
            unavailable = True

    now = datetime.now(zone)
    quick = [
        (name, filters.link(**{"from": (now - span).strftime(_LOCAL_FORMAT), "to": ""}))
        for name, span in QUICK_RANGES
    ]
    context = {
        **visitor.context(),
        "filters": filters.typed,
        "time_zone": zone_name,
        "statuses": STATUSES,
        "keys": keys,
        "models": models,
        "records": records,
        "totals": totals,
        "pages": pages,
        "refused": refused,
        "unavailable": unavailable,
        "quick_ranges": quick,
        "export_url": "/api/usage/export?" + urlencode({"format": "csv", **filters.api}),
        "filtered": bool(filters.api),
    }
    return render(request, "usage.html", context)


def _row(record: Mapping[str, Any], key_names: Mapping[str, str], zone: ZoneInfo) -> dict[str, Any]:
    key_id = record.get("key_id")
    return {
        "event_id": record["event_id"],
        "time": local_time(str(record["occurred_at"]), zone),
        "model": record["model"],
        "key_name": key_names.get(key_id) if isinstance(key_id, str) else None,
        "key_known": key_id is None or key_id in key_names,
        "status": record["status"],
        "http_status": record.get("http_status"),
        "input_tokens": record["input_tokens"],
        "output_tokens": record["output_tokens"],
        "cost": record.get("cost"),
    }


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/usage", usage)
