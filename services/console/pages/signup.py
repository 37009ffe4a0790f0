"""Signing up and verifying the email address."""

from __future__ import annotations

from aiohttp import web

from services.console import i18n, security
from services.console.api_client import call
from services.console.pages.sign_in import token_page
from services.console.render import field, form_of, problem_of, redirect, render


async def _turnstile(request: web.Request) -> str:
    """The Turnstile site key when the operator turned the check on (auth says), else ""."""
    options = await call(request, "GET", "/api/auth/signup/options")
    widget = (
        options.body.get("turnstile") if options.ok and isinstance(options.body, dict) else None
    )
    site_key = widget.get("site_key") if isinstance(widget, dict) else None
    if not isinstance(site_key, str) or not site_key:
        return ""
    request[security.TURNSTILE_ON_PAGE] = True  # the policy lets Cloudflare's widget in
    return site_key


async def signup_page(request: web.Request) -> web.StreamResponse:
    return render(
        request,
        "signup.html",
        {"email": "", "username": "", "turnstile_site_key": await _turnstile(request)},
    )


async def signup(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    email, username = field(form, "email"), field(form, "username")
    answer = await call(
        request,
        "POST",
        "/api/auth/signup",
        json={
            "email": email,
            "username": username,
            "password": field(form, "password"),
            "language": i18n.language_of(request),  # the page's: the account's pages and mails
            # The widget's answer, when the check is on (the widget adds this field to the form).
            **(
                {"turnstile_token": token}
                if (token := field(form, "cf-turnstile-response"))
                else {}
            ),
        },
    )
    if answer.ok:
        raise redirect("/signup/check-mail")
    problem = problem_of(answer)
    if answer.status == 409:
        problem["kind"] = "username_taken"
    return render(
        request,
        "signup.html",
        {
            "email": email,
            "username": username,
            "problem": problem,
            "turnstile_site_key": await _turnstile(request),
        },
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
