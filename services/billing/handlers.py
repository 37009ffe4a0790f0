"""Billing over HTTP."""

from __future__ import annotations

import uuid

from aiohttp import web

from services.billing.accounts import money, user_balance
from shared.errors import NotFound
from shared.service import DB


async def internal_balance(request: web.Request) -> web.Response:
    """Internal: a user's balance, for auth's `/api/me`."""
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound("account not found") from None
    balance, currency = await user_balance(request.app[DB], user_id)
    return web.json_response({"balance": money(balance), "currency": currency})
