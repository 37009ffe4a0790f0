"""The mock payment provider's application: Stripe under `/stripe`, Creem
under `/creem`, the hosted checkout pages, the control API under `/_mock`,
an index page and `/healthz`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.mockpayments import control, creem_api, page, stripe_api
from services.mockpayments.settings import Settings
from services.mockpayments.webhooks import Clock, Outbox, creem_headers, stripe_headers
from shared import tasks

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Mock payment provider · Tollgate dev</title></head>
<body><h1>Mock payment provider</h1>
<p>Top-ups in development pay here: nothing is charged and nothing is kept
but in memory. Checkout pages have Pay and Cancel buttons; paying sends the
provider's signed webhooks to billing.</p>
<ul><li>Stripe-like API: /stripe/v1/checkout/sessions, /stripe/v1/refunds, /stripe/v1/events</li>
<li>Creem-like API: /creem/v1/checkouts, /creem/v1/refunds</li>
<li>Webhook deliveries: <a href="/_mock/stripe/webhooks">Stripe</a>,
<a href="/_mock/creem/webhooks">Creem</a></li></ul>
</body></html>"""

SWEEP_SECONDS = 1.0


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    clock = Clock()
    stripe_outbox = Outbox(
        "stripe",
        url=settings.stripe_webhook.url,
        secret=settings.stripe_webhook.secret,
        signer=stripe_headers,
        clock=clock,
        retry_delays=settings.retry_delays,
    )
    creem_outbox = Outbox(
        "creem",
        url=settings.creem_webhook.url,
        secret=settings.creem_webhook.secret,
        signer=creem_headers,
        clock=clock,
        retry_delays=settings.retry_delays,
    )
    app[control.CLOCK] = clock
    app[control.OUTBOXES] = {"stripe": stripe_outbox, "creem": creem_outbox}
    stripe = stripe_api.StripeMock(
        secret_key=settings.stripe_secret_key,
        outbox=stripe_outbox,
        clock=clock,
        public_url=settings.public_url,
    )
    creem = creem_api.CreemMock(
        api_key=settings.creem_api_key,
        products=settings.creem_products,
        outbox=creem_outbox,
        clock=clock,
        public_url=settings.public_url,
    )
    stripe_api.add_routes(app, stripe)
    creem_api.add_routes(app, creem)
    page.add_routes(app)
    control.add_routes(app)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_running)
    return app


async def _running(app: web.Application) -> AsyncIterator[None]:
    outboxes = list(app[control.OUTBOXES].values())
    for outbox in outboxes:
        await outbox.start()
    sweeper = tasks.spawn(_sweep(app[stripe_api.MOCK_KEY]), name="mockpayments-expiry")
    yield
    sweeper.cancel()
    await asyncio.gather(sweeper, return_exceptions=True)
    for outbox in outboxes:
        await outbox.stop()


async def _sweep(stripe: stripe_api.StripeMock) -> None:
    """Stripe expires open sessions at expires_at (and says so with an event)."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        stripe.expire_due()


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=_INDEX,
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'"},
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
