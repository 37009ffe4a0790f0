"""Balances and statements over HTTP.

A user only ever sees their own account: the account is the caller's, never
named by the request, so there is no id to try someone else's with. The one
exception is the admin role's `GET /api/admin/balances/{user_id}` (the
gateway checks the role, `require_admin` again here): the same figures for
the account an admin names, 404 when auth knows no such user (billing would
otherwise answer zeros for any id, as it does for an account that exists but
never moved money). Money is
rendered as decimal strings. Rules for the numbers shown:

- `balance` is PostgreSQL's, the source of truth.
- `held` is the sum of the user's open holds in Redis (requests in flight).
- `available` is what new requests can still reserve: balance - floor - held,
  never shown below zero (between a charge's commit and the settling of its
  hold, that hold is briefly counted twice).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from aiohttp import web
from redis.exceptions import RedisError

from services.billing import ledger
from services.billing.accounts import user_balance
from services.billing.money_fields import money
from services.billing.user_directory import USER_DIRECTORY
from shared import holds
from shared.errors import NotFound, ServiceUnavailable, Unprocessable
from shared.internal import caller
from shared.service import DB, REDIS

DEFAULT_PAGE = 50
MAX_PAGE = 200
_DIGITS = re.compile(r"[0-9]{1,19}")
UNKNOWN_USER = "no user has this id"


async def internal_balance(request: web.Request) -> web.Response:
    """Internal: a user's balance, floor and version, for `/api/me` and the
    gateway's hold snapshot."""
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound("account not found") from None
    found = await user_balance(request.app[DB], user_id)
    return web.json_response(
        {
            "balance": money(found.balance),
            "floor": money(found.floor),
            "version": found.version,
            "currency": found.currency,
        }
    )


async def balance(request: web.Request) -> web.Response:
    return await _balance_of(request, caller(request).require_user())


async def admin_balance(request: web.Request) -> web.Response:
    """`GET /api/admin/balances/{user_id}`: an account's balance for an admin."""
    caller(request).require_admin()
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound(UNKNOWN_USER) from None
    if not await request.app[USER_DIRECTORY].exists(user_id):
        raise NotFound(UNKNOWN_USER)
    return await _balance_of(request, user_id)


async def _balance_of(request: web.Request, user_id: uuid.UUID) -> web.Response:
    found = await user_balance(request.app[DB], user_id)
    try:
        held = await holds.held_amount(request.app[REDIS], user_id)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("open holds cannot be read right now; try again") from exc
    available = max(found.balance - found.floor - held, Decimal(0))
    return web.json_response(
        {
            "balance": money(found.balance),
            "held": money(held),
            "available": money(available),
            "currency": found.currency,
        }
    )


def _whole_number(raw: str, low: int, high: int) -> int | None:
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        return None
    return int(raw)


def _page(request: web.Request) -> tuple[int, int | None]:
    problems: list[str] = []
    limit, before = DEFAULT_PAGE, None
    if raw_limit := request.query.get("limit", ""):
        parsed = _whole_number(raw_limit, 1, MAX_PAGE)
        if parsed is None:
            problems.append(f"limit: an integer from 1 to {MAX_PAGE}")
        else:
            limit = parsed
    if raw_before := request.query.get("before", ""):
        before = _whole_number(raw_before, 1, 2**63 - 1)
        if before is None:
            problems.append("before: an entry id from a previous page")
    if problems:
        raise Unprocessable("invalid query parameters", details=problems)
    return limit, before


async def statement(request: web.Request) -> web.Response:
    """The caller's ledger entries, newest first; `next_before` fetches the next page."""
    user_id = caller(request).require_user()
    limit, before = _page(request)
    lines = await ledger.user_statement(request.app[DB], user_id, limit=limit, before=before)
    return web.json_response(
        {
            "data": [
                {
                    "id": line.id,
                    "transaction_id": line.transaction_id,
                    "kind": line.kind,
                    "amount": money(line.amount),
                    "balance_after": None
                    if line.balance_after is None
                    else money(line.balance_after),
                    "event_id": line.event_id,
                    "reason": line.reason,
                    "price_multiplier": None
                    if line.price_multiplier is None
                    else format(line.price_multiplier.normalize(), "f"),
                    "created_at": line.created_at.isoformat(),
                }
                for line in lines
            ],
            "next_before": lines[-1].id if len(lines) == limit else None,
        }
    )
