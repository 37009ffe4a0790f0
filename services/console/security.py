"""The console's security headers and its own Origin check.

Every answer gets a strict Content-Security-Policy (no inline script or
style, nothing from other origins (PostHog's hosts only when analytics is
configured), no framing, forms only to ourselves),
`Referrer-Policy: same-origin` and, through `shared.response_headers`,
`X-Content-Type-Options: nosniff` and `Cache-Control: no-store` (pages show
personal data; only `/static/` is cacheable). A POST whose `Origin` is not
the console's public origin is refused before any handler runs: the API
checks Origin and CSRF again on everything it does, this also covers the
console's own preference form.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from services.console.analytics import Analytics
from services.console.app_keys import SETTINGS
from shared import session_cookie

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


# A page that shows Cloudflare's Turnstile widget (sign-up, when the operator
# turned the check on) sets this on its request: the widget's script and frame.
TURNSTILE_ON_PAGE = web.RequestKey("console_turnstile_on_page", bool)
TURNSTILE = "https://challenges.cloudflare.com"
# A page whose form may be answered with a redirect to a payment provider's
# checkout (the top-up form) sets the origins it may go to: Chromium applies
# `form-action` to a form's redirects too.
FORM_TARGETS = web.RequestKey("console_form_targets", tuple)


@functools.cache
def policy(
    analytics: Analytics | None, turnstile: bool = False, form_targets: tuple[str, ...] = ()
) -> str:
    """`CSP`, plus PostHog's hosts for its script and calls when analytics is
    configured, plus Cloudflare's (script and frame, as Turnstile documents)
    on a page with its widget, plus the checkout origins a form may be sent
    on to (`FORM_TARGETS`)."""
    if analytics is None and not turnstile and not form_targets:
        return CSP
    scripts = list(analytics.hosts if analytics else ()) + ([TURNSTILE] if turnstile else [])
    connect = " ".join(analytics.hosts) if analytics else ""
    parts = [
        "default-src 'self'",
        "script-src " + " ".join(["'self'", *scripts]),
        "style-src 'self'",
        "img-src 'self' data:",
    ]
    if connect:
        parts.append(f"connect-src 'self' {connect}")
    if turnstile:
        parts.append(f"frame-src {TURNSTILE}")
    forms = " ".join(["'self'", *form_targets])
    parts += ["frame-ancestors 'none'", f"form-action {forms}", "base-uri 'none'"]
    return "; ".join(parts)


STATIC_CACHE = "public, max-age=3600"


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        expected = session_cookie.origin_of(request.app[SETTINGS].public_url)
        if not session_cookie.same_origin(request.headers.get("Origin", ""), expected):
            raise web.HTTPForbidden(
                text="This form was not sent from this site's pages.", content_type="text/plain"
            )
    response: web.StreamResponse = await handler(request)
    return response


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer, errors included."""
    response.headers["Content-Security-Policy"] = policy(
        request.app[SETTINGS].product_analytics,
        request.get(TURNSTILE_ON_PAGE, False),
        request.get(FORM_TARGETS, ()),
    )
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = STATIC_CACHE
