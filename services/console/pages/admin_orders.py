"""Admin: orders (`/admin/orders`): every user's top-ups, filtered by status and
user, and an order's page (`/admin/orders/{id}`) with its refunds so far and a
refund form.

From billing's `GET /api/admin/orders`, `GET /api/admin/orders/{id}` and
`POST /api/admin/orders/{id}/refund`. Times are in the visitor's zone. The
refund form (amount, by default all that is left, and a reason) leads to a
page that asks first, as the other admin pages do before something that
cannot be undone. That page carries what the order had refunded when it was
drawn (`seen_refunded_minor`): a confirmation sent twice at once shares the
provider's idempotency key and refunds once, and one sent again later (another
tab, the back button) finds the order changed and refunds nothing. The API's
refusals are shown as sentences of ours (Creem's API refunds only whole
payments; the provider cannot be reached; too much; the order changed).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from services.console.api_client import Answer, call
from services.console.pages.admin_shared import admin_visitor, refused
from services.console.pages.billing_topup import PROVIDER_NAMES
from services.console.render import SignedIn, field, form_of, redirect, render, time_zone_of

PATH = "/admin/orders"
API = "/api/admin/orders"
PAGE = 25
STATUSES = (
    "pending",
    "paid",
    "partially_refunded",
    "refunded",
    "disputed",
    "expired",
    "failed",
)
REFUNDABLE = ("paid", "partially_refunded")
_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,3})?")


def _uuid(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def _time(raw: object, zone: ZoneInfo) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return raw


def _places(order: Mapping[str, Any]) -> int:
    """The currency's decimal places, from the order's amount and its minor units."""
    try:
        amount = Decimal(str(order.get("amount")))
        minor = int(order.get("amount_minor") or 0)
    except (InvalidOperation, ValueError):
        return 2
    for places in (2, 0, 3):
        if amount.scaleb(places) == minor:
            return places
    return 2


def _money(minor: int, places: int) -> str:
    return f"{Decimal(minor).scaleb(-places):.{places}f}"


def _view(order: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    places = _places(order)
    amount_minor = int(order.get("amount_minor") or 0)
    refunded_minor = int(order.get("refunded_minor") or 0)
    receipt_number = order.get("receipt_number")
    return {
        "id": str(order.get("id", "")),
        "user_id": str(order.get("user_id", "")),
        "status": str(order.get("status", "")),
        "provider": PROVIDER_NAMES.get(str(order.get("provider")), str(order.get("provider"))),
        "provider_key": str(order.get("provider", "")),
        "amount": str(order.get("amount", "")),
        "credit": str(order.get("credit", "")),
        "currency": str(order.get("currency", "")),
        "created": _time(order.get("created_at"), zone),
        "paid": _time(order.get("paid_at"), zone),
        "updated": _time(order.get("updated_at"), zone),
        "receipt_number": receipt_number,
        "receipt": f"/api/billing/orders/{order.get('id')}/receipt"
        if receipt_number is not None
        else None,
        "provider_payment_id": order.get("provider_payment_id"),
        "payment_reference": order.get("payment_reference"),
        "failure": order.get("failure"),
        "refunded": _money(refunded_minor, places),
        "refunded_minor": refunded_minor,
        "left": _money(max(amount_minor - refunded_minor, 0), places),
        "refundable": str(order.get("status")) in REFUNDABLE and amount_minor > refunded_minor,
        "adjustments": [
            {
                "kind": str(a.get("kind", "")),
                "amount": str(a.get("amount", "")),
                "at": _time(a.get("at"), zone),
            }
            for a in order.get("adjustments") or []
            if isinstance(a, dict)
        ],
    }


def _link(**query: str) -> str:
    chosen = {name: value for name, value in query.items() if value}
    return PATH + (f"?{urlencode(chosen)}" if chosen else "")


async def list_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    zone_name = time_zone_of(request, visitor.me)
    zone = ZoneInfo(zone_name)
    status = request.query.get("status", "")
    status = status if status in STATUSES else ""
    user = _uuid(request.query.get("user", "")) or ""
    before = _uuid(request.query.get("before", "")) or ""
    query = {"limit": str(PAGE), "status": status, "user_id": user, "before": before}
    answer = await call(request, "GET", f"{API}?{urlencode({k: v for k, v in query.items() if v})}")
    refused(answer)
    rows: list[dict[str, Any]] | None = None
    older = None
    if answer.ok and isinstance(answer.body, dict):
        rows = [_view(o, zone) for o in answer.body.get("data", []) if isinstance(o, dict)]
        next_before = _uuid(str(answer.body.get("next_before") or ""))
        if next_before:
            older = _link(status=status, user=user, before=next_before)
    context = {
        **visitor.context(),
        "rows": rows,
        "statuses": STATUSES,
        "status": status,
        "user": user,
        "older": older,
        "newest": _link(status=status, user=user) if before else None,
        "everyone": _link(status=status) if user else None,
        "time_zone": zone_name,
    }
    return render(request, "admin_orders.html", context)


async def _order(request: web.Request, order_id: str) -> dict[str, Any]:
    answer = await call(request, "GET", f"{API}/{order_id}")
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The order cannot be read right now.")
    return answer.body


def _order_id(request: web.Request) -> str:
    found = _uuid(request.match_info["order_id"])
    if found is None:
        raise web.HTTPNotFound()
    return found


def _problem(answer: Answer) -> dict[str, Any]:
    message = answer.error_message or ""
    if answer.status == 422:
        kind = "invalid"
    elif answer.status == 503:
        kind = "unavailable"
    elif "since the page was shown" in message:
        kind = "changed"
    elif "only a whole payment" in message:
        kind = "whole_only"
    elif "only a paid order" in message:
        kind = "not_paid"
    elif "refused the refund" in message or "failed" in message:
        kind = "refused"
    else:
        kind = "other"
    return {"kind": kind, "message": message, "details": answer.error_details}


async def _order_page(
    request: web.Request,
    visitor: SignedIn,
    order_id: str,
    *,
    values: Mapping[str, str] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    zone_name = time_zone_of(request, visitor.me)
    order = _view(await _order(request, order_id), ZoneInfo(zone_name))
    context = {
        **visitor.context(),
        "order": order,
        "values": values or {"amount": order["left"], "reason": ""},
        "problem": problem,
        "refunded_now": request.query.get("refunded") == "1",
        "time_zone": zone_name,
    }
    return render(request, "admin_order.html", context, status=status)


async def order_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    return await _order_page(request, visitor, _order_id(request))


def _refund_values(source: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(source.get(name, ""))[:600].strip() for name in ("amount", "reason", "seen")}


async def confirm_page(request: web.Request) -> web.StreamResponse:
    """The page that asks first: what will be refunded, to whom, through which provider."""
    visitor = await admin_visitor(request)
    order_id = _order_id(request)
    values = _refund_values(request.query)
    zone_name = time_zone_of(request, visitor.me)
    order = _view(await _order(request, order_id), ZoneInfo(zone_name))
    problem = None
    if values["amount"] and not _AMOUNT.fullmatch(values["amount"]):
        problem = {"kind": "invalid", "message": "", "details": []}
    elif not values["reason"]:
        problem = {"kind": "no_reason", "message": "", "details": []}
    elif not order["refundable"]:
        problem = {"kind": "not_paid", "message": "", "details": []}
    if problem:
        return await _order_page(
            request, visitor, order_id, values=values, problem=problem, status=422
        )
    context = {**visitor.context(), "order": order, "values": values, "time_zone": zone_name}
    return render(request, "admin_order_refund.html", context)


async def refund(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    order_id = _order_id(request)
    form = await form_of(request)
    values = {name: field(form, name).strip() for name in ("amount", "reason", "seen")}
    body: dict[str, Any] = {"reason": values["reason"]}
    if values["amount"]:
        body["amount"] = values["amount"]
    if values["seen"].isdigit():
        body["seen_refunded_minor"] = int(values["seen"])
    answer = await call(
        request,
        "POST",
        f"{API}/{order_id}/refund",
        json=body,
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if answer.ok:
        raise redirect(f"{PATH}/{order_id}?refunded=1")
    status = answer.status if answer.status >= 400 else 502
    return await _order_page(
        request, visitor, order_id, values=values, problem=_problem(answer), status=status
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PATH, list_page)
    router.add_get(PATH + "/{order_id}", order_page)
    router.add_get(PATH + "/{order_id}/refund", confirm_page)
    router.add_post(PATH + "/{order_id}/refund", refund)
