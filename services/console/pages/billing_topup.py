"""Billing: topping up (`/billing/topup`), its result (`/billing/topup/result`)
and the list of orders (`/billing/orders`).

Through billing's API only: `GET /api/billing/topup-options`,
`POST /api/billing/topups`, `GET /api/billing/orders[/{id}]` and
`GET /api/billing/balance`.

- The form offers the operator's presets and another amount within the
  bounds, and the enabled providers; amounts are shown as the API writes them,
  which is what the order is charged (the API takes the price once). The form
  posts here; the order is created through the API and the browser is sent
  (303) to the checkout URL the API returned for that order, and only when it
  is an https URL or the configured mock provider's page: nothing the browser
  sent decides where it goes (no open redirect). The page's
  Content-Security-Policy lets the form go on to those origins.
- The result page is the return URL billing gives providers
  (`payment_settings.return_url`: `?order=<id>&outcome=success|cancel`).
  A pending order shows a status fragment that htmx reloads every 2 s
  (`/billing/topup/status`) until the webhook lands, and a plain reload link;
  a cancelled checkout (`outcome=cancel`, order still pending) says nothing
  was charged. Paid shows the credit and the new balance.
- The orders page pages backwards with the API's `next_before`; a receipt is
  linked only when the order has one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from yarl import URL

from services.console.api_client import call
from services.console.app_keys import SETTINGS
from services.console.render import (
    field,
    form_of,
    problem_of,
    render,
    signed_in,
    time_zone_of,
)
from services.console.security import FORM_TARGETS

PROVIDER_NAMES = {"stripe": "Stripe", "creem": "Creem"}
FINAL = frozenset({"paid", "expired", "failed", "refunded", "partially_refunded", "disputed"})
ORDERS_PAGE = 20
POLL_MINUTES = 15
_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,3})?")


def _order_id(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def _mock_origin(request: web.Request) -> str:
    mock = request.app[SETTINGS].mock_payments_url
    return str(URL(mock).origin()) if mock else ""


def checkout_allowed(request: web.Request, url: object) -> bool:
    """A checkout page the browser may be sent to: https with a host, or the
    configured mock provider's origin."""
    if not isinstance(url, str) or any(c in url for c in "\\\r\n\t "):
        return False
    try:
        parsed = URL(url)
    except ValueError:
        return False
    if parsed.scheme not in ("https", "http") or not parsed.host:
        return False
    if parsed.scheme == "https":
        return True
    mock = _mock_origin(request)
    return bool(mock) and str(parsed.origin()) == mock


def _form_targets(request: web.Request) -> None:
    mock = _mock_origin(request)
    request[FORM_TARGETS] = ("https:", mock) if mock else ("https:",)


def _time(raw: object, zone: ZoneInfo) -> str:
    try:
        return datetime.fromisoformat(str(raw)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(raw)


def _recent(created_at: object) -> bool:
    """Whether an order was made less than `POLL_MINUTES` ago."""
    try:
        made = datetime.fromisoformat(str(created_at))
    except ValueError:
        return False
    return made.tzinfo is not None and datetime.now(UTC) - made < timedelta(minutes=POLL_MINUTES)


def _receipt(order: Mapping[str, Any]) -> str | None:
    """The receipt's address when the API offers one for this order."""
    url = order.get("receipt_url")
    if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
        return url
    if order.get("receipt_number") is not None:
        return f"/api/billing/orders/{order['id']}/receipt"
    return None


def _order_view(order: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": str(order.get("id", "")),
        "status": str(order.get("status", "")),
        "provider": PROVIDER_NAMES.get(str(order.get("provider")), str(order.get("provider"))),
        "provider_key": str(order.get("provider", "")),
        "amount": str(order.get("amount", "")),
        "credit": str(order.get("credit", "")),
        "currency": str(order.get("currency", "")),
        "created": _time(order.get("created_at"), zone),
        "paid": _time(order["paid_at"], zone) if order.get("paid_at") else None,
        "receipt": _receipt(order),
        "receipt_number": order.get("receipt_number"),
        "checkout_url": order.get("checkout_url"),
    }


async def _options(request: web.Request) -> dict[str, Any] | None:
    answer = await call(request, "GET", "/api/billing/topup-options")
    if not answer.ok or not isinstance(answer.body, dict):
        return None
    options = dict(answer.body)
    options["providers"] = [
        {
            "name": str(p.get("name")),
            "label": PROVIDER_NAMES.get(str(p.get("name")), str(p.get("name"))),
            "amounts": p.get("amounts"),
        }
        for p in answer.body.get("providers", [])
        if isinstance(p, dict)
    ]
    return options


def _chosen(options: Mapping[str, Any] | None, query: Mapping[str, str]) -> dict[str, str]:
    """What the form starts with: an amount and provider given in the address
    (a "try again" link), else the second preset and the first provider."""
    presets = [str(p) for p in (options or {}).get("presets", [])]
    providers = [p["name"] for p in (options or {}).get("providers", [])]
    amount = query.get("amount", "")[:20]
    provider = query.get("provider", "")[:20]
    custom = ""
    if not _AMOUNT.fullmatch(amount):
        amount = ""
    if amount and amount not in presets:
        amount, custom = "", amount
    if not amount and not custom and presets:
        amount = presets[1] if len(presets) > 1 else presets[0]
    if provider not in providers:
        provider = providers[0] if providers else ""
    return {"amount": amount, "custom": custom, "provider": provider}


async def topup_page(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    options = await _options(request)
    _form_targets(request)
    context = {
        **visitor.context(),
        "options": options,
        "chosen": _chosen(options, request.query),
        "problem": None,
    }
    return render(request, "billing_topup.html", context)


async def start_topup(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    form = await form_of(request)
    custom = field(form, "custom_amount").strip()
    amount = custom or field(form, "amount").strip()
    provider = field(form, "provider").strip()
    chosen = {
        "amount": "" if custom else amount,
        "custom": custom,
        "provider": provider,
    }
    problem: dict[str, Any] | None = None
    status = 200
    if not amount:
        problem, status = {"kind": "no_amount", "message": "", "details": []}, 422
    elif not provider:
        problem, status = {"kind": "no_provider", "message": "", "details": []}, 422
    else:
        answer = await call(
            request,
            "POST",
            "/api/billing/topups",
            json={"amount": amount, "provider": provider},
            csrf_token=field(form, "csrf_token"),
        )
        if answer.status == 401:
            raise web.HTTPSeeOther("/login")
        if answer.ok and isinstance(answer.body, dict):
            order_id = _order_id(str(answer.body.get("order_id", "")))
            checkout = answer.body.get("checkout_url")
            if order_id and checkout_allowed(request, checkout):
                raise web.HTTPSeeOther(str(checkout))
            # An order was made but its checkout page is not one we send
            # browsers to: show the order, which says nothing was charged yet.
            if order_id:
                raise web.HTTPSeeOther(f"/billing/topup/result?order={order_id}")
            problem, status = {"kind": "other", "message": "", "details": []}, 502
        else:
            problem = problem_of(answer)
            if answer.status == 503:
                problem["kind"] = "provider_unavailable"
            status = answer.status if answer.status >= 400 else 502
    options = await _options(request)
    _form_targets(request)
    context = {**visitor.context(), "options": options, "chosen": chosen, "problem": problem}
    return render(request, "billing_topup.html", context, status=status)


async def _result_context(request: web.Request) -> dict[str, Any]:
    visitor = await signed_in(request)
    order_id = _order_id(request.query.get("order", ""))
    if order_id is None:
        raise web.HTTPNotFound()
    answer = await call(request, "GET", f"/api/billing/orders/{order_id}")
    if answer.status == 404:
        raise web.HTTPNotFound()
    zone = ZoneInfo(time_zone_of(request, visitor.me))
    order = _order_view(answer.body, zone) if answer.ok and isinstance(answer.body, dict) else None
    balance = None
    if order and order["status"] == "paid":
        found = await call(request, "GET", "/api/billing/balance")
        balance = found.body if found.ok and isinstance(found.body, dict) else None
    cancelled = request.query.get("outcome") == "cancel" and bool(
        order and order["status"] == "pending"
    )
    waiting = bool(order and order["status"] == "pending" and not cancelled)
    # Polling stops after a while (a tab left open); the reload link stays.
    polling = waiting and _recent(answer.body.get("created_at"))
    again = "/billing/topup"
    if order:
        again += "?" + urlencode({"amount": order["amount"], "provider": order["provider_key"]})
    here = "/billing/topup/result?" + urlencode({"order": order_id})
    return {
        **visitor.context(),
        "order": order,
        "balance": balance,
        "cancelled": cancelled,
        "waiting": waiting,
        "polling": polling,
        "again": again,
        "here": here,
        "poll": "/billing/topup/status?" + urlencode({"order": order_id}),
        "checkout": (
            order["checkout_url"]
            if order and cancelled and checkout_allowed(request, order["checkout_url"])
            else None
        ),
    }


async def result_page(request: web.Request) -> web.StreamResponse:
    context = await _result_context(request)
    return render(request, "billing_topup_result.html", context)


async def result_status(request: web.Request) -> web.StreamResponse:
    """The result page's status part alone: what htmx reloads while pending."""
    context = await _result_context(request)
    return render(request, "billing_topup_status.html", context)


def _orders_link(before: str = "") -> str:
    return "/billing/orders" + (f"?{urlencode({'before': before})}" if before else "")


async def orders_page(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    zone_name = time_zone_of(request, visitor.me)
    zone = ZoneInfo(zone_name)
    before = _order_id(request.query.get("before", "")) or ""
    query = {"limit": str(ORDERS_PAGE), **({"before": before} if before else {})}
    answer = await call(request, "GET", f"/api/billing/orders?{urlencode(query)}")
    rows: list[dict[str, Any]] | None = None
    older = None
    if answer.ok and isinstance(answer.body, dict):
        rows = [_order_view(o, zone) for o in answer.body.get("data", []) if isinstance(o, dict)]
        next_before = _order_id(str(answer.body.get("next_before") or ""))
        if next_before:
            older = _orders_link(next_before)
    context = {
        **visitor.context(),
        "rows": rows,
        "older": older,
        "newest": _orders_link() if before else None,
        "time_zone": zone_name,
        "first_page": not before,
    }
    return render(request, "billing_orders.html", context)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/billing/topup", topup_page)
    router.add_post("/billing/topup", start_topup)
    router.add_get("/billing/topup/result", result_page)
    router.add_get("/billing/topup/status", result_status)
    router.add_get("/billing/orders", orders_page)
