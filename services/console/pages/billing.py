"""Billing: the balance (held, available) and the ledger, newest first.

Data from `GET /api/billing/balance` and `GET /api/billing/ledger` only. The
ledger pages backwards by entry id (`before`, the API's `next_before`); the
`before` of the pages already seen travel in `trail`, so "Newer entries" is a
plain link. Amounts are the API's decimal strings, shown with their sign; the
kind of each entry is translated in the template. The ledger is one section of
the page: top-ups and redemption will be others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from services.console.api_client import call
from services.console.render import render, signed_in, time_zone_of

PAGE_SIZE = 50
MAX_TRAIL = 50
_ENTRY_ID = re.compile(r"[0-9]{1,19}")


def _before(request: web.Request) -> str:
    raw = request.query.get("before", "")
    return raw if _ENTRY_ID.fullmatch(raw) else ""


def _trail(request: web.Request) -> list[str]:
    parts = [part for part in request.query.get("trail", "")[: 20 * MAX_TRAIL].split(".") if part]
    return parts[-MAX_TRAIL:] if all(_ENTRY_ID.fullmatch(part) for part in parts) else []


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 200 else PAGE_SIZE


def _link(**query: str) -> str:
    given = {name: value for name, value in query.items() if value}
    return "/billing" + (f"?{urlencode(given)}" if given else "")


def first_alert_view(request: web.Request) -> bool:
    """`?alert=saved|off`: the page right after the alert form (a known word only)."""
    return request.query.get("alert", "") in ("saved", "off")


def signed_amount(amount: str) -> str:
    """A decimal string with its sign always shown: `+1.5`, `-0.002`, `0`."""
    if amount.startswith("-") or amount.strip("0.") == "":
        return amount
    return "+" + amount


def _line(entry: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    try:
        when = datetime.fromisoformat(str(entry["created_at"])).astimezone(zone)
        time = when.strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        time = str(entry["created_at"])
    amount = str(entry["amount"])
    return {
        "time": time,
        "kind": entry["kind"],
        "amount": signed_amount(amount),
        "credit": not amount.startswith("-"),
        "balance_after": entry.get("balance_after"),
        "event_id": entry.get("event_id"),
        "reason": entry.get("reason"),
        "multiplier": _multiplier(entry),
    }


def _multiplier(entry: Mapping[str, Any]) -> str | None:
    """A usage charge's price multiplier (the account's group's) when it is not 1;
    None for 1, for other kinds and for entries from before multipliers."""
    raw = entry.get("price_multiplier")
    if entry.get("kind") != "usage_charge" or not isinstance(raw, str):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value == 1:
        return None
    return format(value.normalize(), "f")


async def billing(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    zone_name = time_zone_of(request, visitor.me)
    zone = ZoneInfo(zone_name)
    before, trail, limit = _before(request), _trail(request), _limit(request)
    extra = {"limit": str(limit)} if limit != PAGE_SIZE else {}

    balance = await call(request, "GET", "/api/billing/balance")
    query = {"limit": str(limit), **({"before": before} if before else {})}
    ledger = await call(request, "GET", f"/api/billing/ledger?{urlencode(query)}")
    alert = await call(request, "GET", "/api/billing/alert")
    lines: list[dict[str, Any]] | None = None
    pages: dict[str, str | None] = {"older": None, "newer": None, "newest": None}
    if ledger.ok and isinstance(ledger.body, dict):
        lines = [_line(entry, zone) for entry in ledger.body.get("data", [])]
        next_before = ledger.body.get("next_before")
        if next_before is not None and _ENTRY_ID.fullmatch(str(next_before)):
            walked = [*trail, before] if before else trail
            pages["older"] = _link(
                before=str(next_before), trail=".".join(walked[-MAX_TRAIL:]), **extra
            )
        if before:
            pages["newer"] = _link(
                before=trail[-1] if trail else "", trail=".".join(trail[:-1]), **extra
            )
            if trail:
                pages["newest"] = _link(**extra)
    context = {
        **visitor.context(),
        "balance": balance.body if balance.ok and isinstance(balance.body, dict) else None,
        "lines": lines,
        "pages": pages,
        "time_zone": zone_name,
        "first_page": not before,
        # The low-balance alert's section (its form posts to billing_alert.py).
        "alert": alert.body if alert.ok and isinstance(alert.body, dict) else None,
        "alert_saved": request.query.get("alert", "") if first_alert_view(request) else "",
        "alert_problem": None,
        "threshold_value": "",
    }
    return render(request, "billing.html", context)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/billing", billing)
