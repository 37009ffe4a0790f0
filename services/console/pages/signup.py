"""Signing up and verifying the email address."""

from __future__ import annotations

from aiohttp import web

from services.console.api_client import call
from services.console.pages.sign_in import token_page
from services.console.render import field, form_of, problem_of, redirect, render


async def signup_page(request: web.Request) -> web.StreamResponse:
    return render(request, "signup.html", {"email": "", "username": ""})


async def signup(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    email, username = field(form, "email"), field(form, "username")
    answer = await call(
        request,
        "POST",
        "/api/auth/signup",
        json={"email": email, "username": username, "password": field(form, "password")},
    )
    if answer.ok:
        raise redirect("/signup/check-mail")
    problem = problem_of(answer)
    if answer.status == 409:
        problem["kind"] = "username_taken"
    return render(
        request,
        "signup.html",
        {"email": email, "username": username, "problem": problem},
        status=answer.status,
    )


async def check_mail(request: web.Request) -> web.StreamResponse:
    return render(request, "check_mail.html", {"analytics_event": "signed_up"})


async def verify_page(request: web.Request) -> web.StreamResponse:
    return token_page(request, "verify_email.html")


async def verify(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request, "POST", "/api/auth/verify-email", json={"token": field(form, "token")}
    )
    if answer.ok:
        return render(request, "verified.html", {})
    return render(
        request,
        "verify_email.html",
        {"token": "", "problem": problem_of(answer)},
        status=answer.status,
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/signup", signup_page)
    router.add_post("/signup", signup)
    router.add_get("/signup/check-mail", check_mail)
    router.add_get("/verify-email", verify_page)
    router.add_post("/verify-email", verify)
