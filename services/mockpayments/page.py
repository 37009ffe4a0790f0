"""The hosted checkout pages: `/stripe/pay/{session}` and `/creem/pay/{checkout}`.

A plain form (no script): the amount and product, Pay and Cancel (and, for
Stripe, Pay with a method that settles later). Pay marks the payment paid and
emits the provider's events, then sends the buyer to success_url (Stripe:
`{CHECKOUT_SESSION_ID}` replaced; Creem: its signed query parameters).
Cancel sends the buyer to cancel_url (Stripe; the session stays open until it
expires); Creem has no cancel URL, so its page says nothing was paid.
"""

from __future__ import annotations

import html
from decimal import Decimal

from aiohttp import web

from services.mockpayments import creem_api, stripe_api

_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:"
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 480px; margin: 40px auto; padding: 0 12px }
.amount { font-size: 2em; margin: 8px 0 } .note { color: #555; font-size: .9em }
button { margin: 16px 8px 0 0; padding: 8px 18px; font-size: 1em }
label { display: block; margin-top: 12px }
input[type=email] { width: 100%; box-sizing: border-box; padding: 6px; font-size: 1em }
button[value=pay] { background: #1f5fbf; color: #fff; border: 1px solid #1f5fbf }
"""


def money(minor: int, currency: str) -> str:
    if currency.lower() in stripe_api.ZERO_DECIMAL:
        return f"{minor} {currency.upper()}"
    return f"{Decimal(minor) / 100:.2f} {currency.upper()}"


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"},
    )


def _form(provider: str, product: str, amount: str, email: str, later: bool) -> str:
    later_button = (
        '<button type="submit" name="action" value="pay_later">'
        "Pay by bank debit (settles later)</button>"
        if later
        else ""
    )
    return (
        f"<h1>{html.escape(provider)} test checkout</h1>"
        f'<p class="note">A mock payment provider for development: no money moves.</p>'
        f"<p>{html.escape(product)}</p>"
        f'<p class="amount">{html.escape(amount)}</p>'
        f'<form method="post"><label for="email">Email</label>'
        f'<input type="email" id="email" name="email" value="{html.escape(email, quote=True)}">'
        f'<button type="submit" name="action" value="pay">Pay</button>{later_button}'
        f'<button type="submit" name="action" value="cancel">Cancel</button></form>'
    )


def _closed(what: str, status: str) -> web.Response:
    return _page("Checkout closed", f"<h1>This {what} is {html.escape(status)}</h1>", status=410)


async def stripe_page(request: web.Request) -> web.Response:
    mock = request.app[stripe_api.MOCK_KEY]
    session = mock.sessions.get(request.match_info["id"])
    if session is None:
        return _page("Not found", "<h1>No such checkout session</h1>", status=404)
    mock.expire_due()
    if session["status"] != "open":
        return _closed("checkout session", session["status"])
    items = mock.line_items.get(session["id"], [])
    product = ", ".join(f"{i['quantity']} × {i['description']}" for i in items)
    email = session.get("customer_email") or "buyer@example.com"
    return _page(
        "Pay · Stripe (mock)",
        _form("Stripe", product, money(session["amount_total"], session["currency"]), email, True),
    )


async def stripe_submit(request: web.Request) -> web.Response:
    mock = request.app[stripe_api.MOCK_KEY]
    session = mock.sessions.get(request.match_info["id"])
    if session is None:
        return _page("Not found", "<h1>No such checkout session</h1>", status=404)
    form = await request.post()
    action = form.get("action")
    if action == "cancel":
        target = session.get("cancel_url") or session["success_url"]
        raise web.HTTPSeeOther(str(target))
    if action not in {"pay", "pay_later"}:
        return _page("Bad request", "<h1>Choose Pay or Cancel</h1>", status=400)
    email = form.get("email")
    try:
        mock.pay(
            session["id"],
            later=action == "pay_later",
            email=email if isinstance(email, str) and email else "buyer@example.com",
        )
    except stripe_api.StripeError:
        return _closed("checkout session", session["status"])
    raise web.HTTPSeeOther(
        str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])
    )


async def creem_page(request: web.Request) -> web.Response:
    mock = request.app[creem_api.MOCK_KEY]
    checkout = mock.checkouts.get(request.match_info["id"])
    if checkout is None:
        return _page("Not found", "<h1>No such checkout</h1>", status=404)
    if checkout["status"] != "pending":
        return _closed("checkout", checkout["status"])
    product = checkout["product"]
    amount = money(product["price"] * checkout["units"], product["currency"])
    return _page(
        "Pay · Creem (mock)",
        _form("Creem", product["name"], amount, checkout["_email"] or "buyer@example.com", False),
    )


async def creem_submit(request: web.Request) -> web.Response:
    mock = request.app[creem_api.MOCK_KEY]
    checkout = mock.checkouts.get(request.match_info["id"])
    if checkout is None:
        return _page("Not found", "<h1>No such checkout</h1>", status=404)
    form = await request.post()
    action = form.get("action")
    if action == "cancel":
        return _page("Checkout cancelled", "<h1>Checkout cancelled</h1><p>Nothing was paid.</p>")
    if action != "pay":
        return _page("Bad request", "<h1>Choose Pay or Cancel</h1>", status=400)
    email = form.get("email")
    try:
        mock.pay(checkout["id"], email if isinstance(email, str) and email else "buyer@example.com")
    except creem_api.CreemError:
        return _closed("checkout", checkout["status"])
    target = mock.success_redirect(checkout)
    if target is None:
        return _page("Paid", "<h1>Payment received</h1><p>You can close this page.</p>")
    raise web.HTTPSeeOther(target)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/stripe/pay/{id}", stripe_page)
    app.router.add_post("/stripe/pay/{id}", stripe_submit)
    app.router.add_get("/creem/pay/{id}", creem_page)
    app.router.add_post("/creem/pay/{id}", creem_submit)
