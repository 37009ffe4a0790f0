"""What an API key spent in its budget's period, from its usage records.

Two readers (docs/admission.md, "Key spend budgets"):

- `GET /api/usage/keys/{key_id}/spend?period=day|month|total`: the key's
  owner (a key of another user reads 0: records are filtered by the caller
  first), for the console's "spent / left" next to a key's budget. UTC
  periods; `total` is every record of the key.
- `GET /internal/keys/{key_id}/spend?user_id=&since=`: the gateway, when a
  budget's counter is missing in Redis (a new period, Redis lost it), seeds
  it with this sum (`since` absent: every record).

Both sum the records' `cost` (the event's cost, group multiplier included;
what billing charges), so they lag the relay by the events still in the
stream: a request finished a moment ago may not be counted yet.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from services.usage.errors import database_boundary
from services.usage.render import decimal_string, utc_time
from shared import key_budgets
from shared.client_input import text_problem, time_problem
from shared.errors import NotFound, Unprocessable
from shared.internal import caller
from shared.service import DB

PERIODS: tuple[key_budgets.Period, ...] = ("day", "month", "total")


async def spent(db: Any, user_id: uuid.UUID, key_id: uuid.UUID, since: datetime | None) -> Decimal:
    """The sum of the key's records' cost from `since` (None: all of them)."""
    with database_boundary():
        value = await db.fetchval(
            "SELECT coalesce(sum(cost), 0) FROM usage.records WHERE user_id = $1"
            " AND key_id = $2 AND ($3::timestamptz IS NULL OR occurred_at >= $3)",
            user_id,
            key_id,
            since,
        )
    return Decimal(value)


async def key_spend(request: web.Request) -> web.Response:
    """`GET /api/usage/keys/{key_id}/spend?period=`: the caller's key, this period."""
    user_id = caller(request).require_user()
    key_id = _key_id(request.match_info["key_id"])
    period = _one(request, "period", required=True)
    if period not in PERIODS:
        raise Unprocessable("period: must be day, month or total")
    now = datetime.now(UTC)
    since = key_budgets.period_start(period, now)
    amount = await spent(request.app[DB], user_id, key_id, since)
    return _json(
        {
            "key_id": str(key_id),
            "period": period,
            "since": utc_time(since) if since else None,
            "spent": decimal_string(amount),
        }
    )


async def internal_key_spend(request: web.Request) -> web.Response:
    """`GET /internal/keys/{key_id}/spend?user_id=&since=`: the budget counter's seed."""
    key_id = _key_id(request.match_info["key_id"])
    raw_user = _one(request, "user_id", required=True)
    try:
        user_id = uuid.UUID(raw_user or "")
    except ValueError:
        raise Unprocessable("user_id: must be a UUID") from None
    raw_since = _one(request, "since", required=False)
    since = None
    if raw_since:
        try:
            since = datetime.fromisoformat(raw_since)
        except ValueError:
            raise Unprocessable("since: must be an ISO 8601 time") from None
        problem = time_problem(since)
        if problem:
            raise Unprocessable(f"since: {problem}")
    amount = await spent(request.app[DB], user_id, key_id, since)
    return _json({"spent": decimal_string(amount)})


def _key_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("no such key") from None


def _one(request: web.Request, name: str, *, required: bool) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise Unprocessable(f"{name}: given more than once")
    value = values[0] if values else None
    if value:
        problem = text_problem(value, max_length=64, controls="none")
        if problem:
            raise Unprocessable(f"{name}: {problem}")
    elif required:
        raise Unprocessable(f"{name}: required")
    return value or None


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")
