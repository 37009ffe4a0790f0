"""`GET /api/billing/orders/{id}/receipt`: a paid order's receipt, JSON or printable HTML.

Every order gets a gapless receipt number when it is credited (migration
0007). The receipt shows the number, when it was paid, the account, what was
paid and the credit it granted, the provider and its references, and every
later refund and dispute (the reversals posted against the order), so a
receipt printed after a refund says so. The owner sees their own receipts,
an administrator any; someone else's, or an order not paid, is 404.

HTML when the client asks for it (`?format=html`, or an `Accept` that prefers
`text/html`, as a browser following the console's link does), JSON otherwise.
The page is self-contained and printable: no script, its one style block
allowed by its own Content-Security-Policy, every value escaped.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jinja2
from aiohttp import web

from services.billing.money_fields import money
from services.billing.payments import orders
from services.billing.payments.payment_settings import minor_exponent
from shared.errors import NotFound
from shared.internal import caller
from shared.service import DB

_KIND = {
    "refund": "Refund",
    "dispute": "Dispute (chargeback)",
    "dispute_won": "Dispute won: credit restored",
}

_STATUS = {
    "paid": "Paid",
    "partially_refunded": "Partly refunded",
    "refunded": "Refunded",
    "disputed": "Disputed",
}
_PROVIDER = {"stripe": "Stripe", "creem": "Creem"}


def _when(value: str) -> str:
    """An ISO timestamp as the receipt prints it: `2026-12-05 14:04:37 UTC`."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Receipt {{ r.receipt_number }}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto;
       padding: 0 1rem; color: #111; background: #fff; }
h1 { font-size: 1.4rem; margin-bottom: 0.2rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid #ddd;
         vertical-align: top; overflow-wrap: anywhere; }
th { width: 40%; font-weight: 600; }
.muted { color: #555; }
.num { white-space: nowrap; text-align: right; }
@media print { body { margin: 0; } }
</style>
</head>
<body>
<h1>Receipt {{ r.receipt_number }}</h1>
<p class="muted">Tollgate account credit</p>
<table>
<tr><th>Receipt number</th><td>{{ r.receipt_number }}</td></tr>
<tr><th>Paid</th><td>{{ when(r.paid_at) }}</td></tr>
<tr><th>Account</th><td>{{ r.user_id }}</td></tr>
<tr><th>Order</th><td>{{ r.order_id }}</td></tr>
<tr><th>Amount paid</th><td>{{ r.amount }} {{ r.currency }}</td></tr>
<tr><th>Credit granted</th><td>{{ r.credit }} {{ r.currency }}</td></tr>
<tr><th>Paid through</th><td>{{ providers.get(r.provider, r.provider) }}</td></tr>
<tr><th>Provider reference</th><td>{{ r.provider_payment_id or "" }}
{% if r.payment_reference %}<br>{{ r.payment_reference }}{% endif %}</td></tr>
<tr><th>Status</th><td>{{ statuses.get(r.status, r.status) }}</td></tr>
</table>
{% if r.adjustments %}
<h2>Later changes</h2>
<table>
<tr><th>Date</th><th>Change</th><th class="num">Credit</th></tr>
{% for a in r.adjustments %}
<tr><td>{{ when(a.at) }}</td><td>{{ kinds.get(a.kind, a.kind) }}</td>
<td class="num">{{ "+" if a.kind == "dispute_won" else "-" }}{{ a.amount }}
{{- " " }}{{ r.currency }}</td></tr>
{% endfor %}
</table>
<p>Refunded so far: {{ r.refunded }} {{ r.currency }}</p>
{% endif %}
</body>
</html>
"""
)
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


async def adjustments_of(connection: Any, order_id: uuid.UUID) -> list[dict[str, Any]]:
    """The refunds and disputes posted against an order, oldest first."""
    rows = await connection.fetch(
        "SELECT kind, amount, created_at FROM billing.order_postings "
        "WHERE order_id = $1 AND kind <> 'credit' ORDER BY created_at, transaction_id",
        order_id,
    )
    return [
        {"kind": r["kind"], "amount": money(r["amount"]), "at": r["created_at"].isoformat()}
        for r in rows
    ]


async def receipt_of(connection: Any, order: orders.Order) -> dict[str, Any]:
    assert order.paid_at is not None
    refunded = Decimal(order.refunded_minor).scaleb(-minor_exponent(order.currency))
    return {
        "receipt_number": order.receipt_number,
        "order_id": str(order.id),
        "user_id": str(order.user_id),
        "paid_at": order.paid_at.isoformat(),
        "amount": money(order.amount),
        "currency": order.currency,
        "amount_minor": order.amount_minor,
        "credit": money(order.credit),
        "provider": order.provider,
        "provider_payment_id": order.provider_payment_id,
        "payment_reference": order.payment_reference,
        "status": order.status.value,
        "refunded": money(refunded),
        "refunded_minor": order.refunded_minor,
        "adjustments": await adjustments_of(connection, order.id),
    }


def _wants_html(request: web.Request) -> bool:
    if request.query.get("format") in ("html", "json"):
        return request.query["format"] == "html"
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


async def receipt(request: web.Request) -> web.Response:
    who = caller(request)
    user_id = who.require_user()
    try:
        order_id = uuid.UUID(request.match_info["order_id"])
    except ValueError:
        raise NotFound("receipt not found") from None
    pool: Any = request.app[DB]
    order = await orders.get(pool, order_id)
    if (
        order is None
        or (order.user_id != user_id and who.role != "admin")
        or order.receipt_number is None
    ):
        raise NotFound("receipt not found: no paid order of yours has this id")
    body = await receipt_of(pool, order)
    if _wants_html(request):
        return web.Response(
            text=_PAGE.render(
                r=body, kinds=_KIND, statuses=_STATUS, providers=_PROVIDER, when=_when
            ),
            content_type="text/html",
            headers={"Content-Security-Policy": _CSP},
        )
    return web.json_response(body)
