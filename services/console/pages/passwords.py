"""A forgotten password: asking for the mail, and setting a new password from its link."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from services.console.api_client import call
from services.console.pages.sign_in import token_page
from services.console.render import field, form_of, problem_of, redirect, render


async def forgot_page(request: web.Request) -> web.StreamResponse:
    return render(request, "forgot_password.html", {})


async def forgot(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request, "POST", "/api/auth/password-reset", json={"email": field(form, "email")}
    )
    if answer.ok:
        return render(request, "forgot_sent.html", {})
    return render(
        request, "forgot_password.html", {"problem": problem_of(answer)}, status=answer.status
    )


async def reset_page(request: web.Request) -> web.StreamResponse:
    return token_page(request, "reset_password.html")


async def reset(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    token = field(form, "token")
    answer = await call(
        request,
        "POST",
        "/api/auth/password-reset/confirm",
        json={"token": token, "password": field(form, "password")},
    )
    if answer.ok:
        raise redirect("/login?" + urlencode({"reset": "1"}))
    problem = problem_of(answer)
    if answer.status == 400:  # the token is unknown, used or expired: no form to retry
        problem["kind"], token = "link_invalid", ""
    return render(
        request, "reset_password.html", {"token": token, "problem": problem}, status=answer.status
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/forgot-password", forgot_page)
    router.add_post("/forgot-password", forgot)
    router.add_get("/reset-password", reset_page)
    router.add_post("/reset-password", reset)
