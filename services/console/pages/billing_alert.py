"""Billing: the low-balance alert's threshold (`POST /billing/alert`), the form on `/billing`.

Through billing's `GET` and `PUT /api/billing/alert` only. The form sets a
threshold (`action=set`) or turns the alert off (`action=off`); a saved one
goes back to `/billing` (post, redirect, get) where the section says what is
set; a refused amount is shown on this page with the form to correct it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.console.api_client import call
from services.console.render import field, form_of, problem_of, redirect, render, signed_in


async def set_alert(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    form = await form_of(request)
    turning_off = field(form, "action") == "off"
    raw = field(form, "threshold").strip()[:40]
    problem: dict[str, Any] | None = None
    status = 422
    if not turning_off and not raw:
        problem = {"kind": "no_amount", "message": "", "details": []}
    else:
        answer = await call(
            request,
            "PUT",
            "/api/billing/alert",
            json={"threshold": None if turning_off else raw},
            csrf_token=field(form, "csrf_token"),
        )
        if answer.status == 401:
            raise web.HTTPSeeOther("/login")
        if answer.ok:
            raise redirect(
                "/billing?alert=off#billing-alert-section"
                if turning_off
                else "/billing?alert=saved#billing-alert-section"
            )
        problem = problem_of(answer)
        if answer.status == 422:
            problem["kind"] = "bad_amount"
        status = answer.status if answer.status >= 400 else 502
    alert = await call(request, "GET", "/api/billing/alert")
    context = {
        **visitor.context(),
        "alert": alert.body if alert.ok and isinstance(alert.body, dict) else None,
        "alert_problem": problem,
        "threshold_value": raw,
    }
    return render(request, "billing_alert.html", context, status=status)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/billing/alert", set_alert)
