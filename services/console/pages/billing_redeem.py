"""Billing: redeeming a code (`/billing/redeem`), the form also on `/billing`.

Through billing's `POST /api/billing/redeem` only. The answer is shown on the
page the form posts to (the credit and the new balance); it is not a redirect,
because a code is spent once and there is nothing to show again. A refused
code (wrong, used or expired: the API gives one answer for the three, on
purpose) reads one sentence; too many refusals read as a wait.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.console.api_client import call
from services.console.render import field, form_of, problem_of, render, signed_in


async def redeem_page(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    context = {**visitor.context(), "redeemed": None, "problem": None, "code": ""}
    return render(request, "billing_redeem.html", context)


async def redeem(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    form = await form_of(request)
    code = field(form, "code").strip()[:200]
    problem: dict[str, Any] | None = None
    redeemed: dict[str, Any] | None = None
    status = 200
    if not code:
        problem, status = {"kind": "no_code", "message": "", "details": []}, 422
    else:
        answer = await call(
            request,
            "POST",
            "/api/billing/redeem",
            json={"code": code},
            csrf_token=field(form, "csrf_token"),
        )
        if answer.status == 401:
            raise web.HTTPSeeOther("/login")
        if answer.ok and isinstance(answer.body, dict):
            redeemed = answer.body
        else:
            problem = problem_of(answer)
            if answer.error_code == "code_not_redeemable":
                problem["kind"] = "not_redeemable"
            status = answer.status if answer.status >= 400 else 502
    context = {
        **visitor.context(),
        "redeemed": redeemed,
        "problem": problem,
        # A refused code stays in the field to be corrected; a spent one does not.
        "code": code if problem else "",
    }
    return render(request, "billing_redeem.html", context, status=status)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/billing/redeem", redeem_page)
    router.add_post("/billing/redeem", redeem)
