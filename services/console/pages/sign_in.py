"""Signing in and out: password, the second-factor step, Google and GitHub buttons,
linking a provider to an existing account, and the mailed sign-in link.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.console.api_client import call
from services.console.render import FIELD_LIMIT, field, form_of, problem_of, redirect, render

# What `/login?error=` may say (auth's OAuth callback); anything else is `oauth_failed`.
OAUTH_ERRORS = (
    "oauth_failed",
    "oauth_cancelled",
    "oauth_unavailable",
    "oauth_email_unverified",
    "account_suspended",
)


async def logout(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(request, "POST", "/api/auth/logout", csrf_token=field(form, "csrf_token"))
    if answer.ok or answer.status == 401:
        raise redirect("/login", answer)
    return render(request, "error.html", {"problem": problem_of(answer)}, status=answer.status)


async def _providers(request: web.Request) -> list[dict[str, str]]:
    methods = await call(request, "GET", "/api/auth/methods")
    if not methods.ok or not isinstance(methods.body, dict):
        return []
    found = []
    for provider in methods.body.get("providers", []):
        if isinstance(provider, dict) and str(provider.get("start_url", "")).startswith("/"):
            found.append({"name": str(provider.get("name", "")), "url": provider["start_url"]})
    return found


async def login_page(request: web.Request) -> web.StreamResponse:
    query = request.query
    if mfa_token := query.get("mfa_token", "")[:FIELD_LIMIT]:
        return render(request, "login_mfa.html", {"mfa_token": mfa_token, "action": "/login/mfa"})
    if link_token := query.get("link_token", "")[:FIELD_LIMIT]:
        provider = query.get("provider", "")
        return render(
            request,
            "login_link.html",
            {
                "link_token": link_token,
                "provider": provider if provider in ("google", "github") else "",
            },
        )
    error = query.get("error")
    oauth_error = None if error is None else (error if error in OAUTH_ERRORS else "oauth_failed")
    return render(
        request,
        "login.html",
        {
            "providers": await _providers(request),
            "oauth_error": oauth_error,
            "login": "",
            "password_reset": query.get("reset") == "1",
        },
    )


async def login(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    login_name = field(form, "login")
    answer = await call(
        request,
        "POST",
        "/api/auth/login",
        json={"login": login_name, "password": field(form, "password"), "session": True},
    )
    if answer.ok and isinstance(answer.body, dict) and answer.body.get("mfa_required"):
        token = str(answer.body.get("mfa_token", ""))
        return render(request, "login_mfa.html", {"mfa_token": token, "action": "/login/mfa"})
    if answer.ok:
        raise redirect("/", answer)
    return render(
        request,
        "login.html",
        {
            "providers": await _providers(request),
            "problem": problem_of(answer),
            "login": login_name,
        },
        status=answer.status,
    )


async def login_mfa(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    token = field(form, "mfa_token")
    answer = await call(
        request,
        "POST",
        "/api/auth/login/mfa",
        json={"mfa_token": token, "code": field(form, "code")},
    )
    if answer.ok:
        raise redirect("/", answer)
    return render(
        request,
        "login_mfa.html",
        {"mfa_token": token, "action": "/login/mfa", "problem": problem_of(answer)},
        status=answer.status,
    )


async def login_link(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    token = field(form, "link_token")
    body: dict[str, Any] = {"link_token": token, "password": field(form, "password")}
    if code := field(form, "code"):
        body["code"] = code
    answer = await call(request, "POST", "/api/auth/oauth/link", json=body)
    if answer.ok:
        raise redirect("/", answer)
    return render(
        request,
        "login_link.html",
        {"link_token": token, "provider": "", "problem": problem_of(answer)},
        status=answer.status,
    )


def token_page(request: web.Request, template: str) -> web.StreamResponse:
    """A mailed link's page: the token from the query in a form whose button posts it
    (opening a link changes nothing by itself)."""
    return render(request, template, {"token": request.query.get("token", "")[:FIELD_LIMIT]})


async def sign_in_link_page(request: web.Request) -> web.StreamResponse:
    """`/sign-in-link?token=`: the mailed link's page; a button posts the token."""
    return token_page(request, "sign_in_link.html")


async def sign_in_link(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request, "POST", "/api/auth/login/link", json={"token": field(form, "token")}
    )
    if answer.ok:
        raise redirect("/", answer)
    return render(
        request,
        "sign_in_link.html",
        {"token": "", "problem": problem_of(answer)},
        status=answer.status,
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/logout", logout)
    router.add_get("/login", login_page)
    router.add_post("/login", login)
    router.add_post("/login/mfa", login_mfa)
    router.add_post("/login/link", login_link)
    router.add_get("/sign-in-link", sign_in_link_page)
    router.add_post("/sign-in-link", sign_in_link)
