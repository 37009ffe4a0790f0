"""The console's pages: each form posts to a console route, which calls the API
(`api_client`) and redirects or renders the page again with the error.

Every form works without JavaScript. Forms of a signed-in page carry the
session's CSRF token in a hidden `csrf_token` input (htmx sends it in
`X-CSRF-Token` too, from `hx-headers` on `<body>`); the console passes it
and the browser's `Origin` to the API, which checks them. Sentences shown to
people come from the catalogs; an API message is shown only when no sentence
of ours fits (it is English).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from services.console import i18n
from services.console.api_client import Answer, call

ENVIRONMENTS = {
    language: web.AppKey(f"console_jinja_{language}", jinja2.Environment)
    for language in i18n.LANGUAGES
}
_FIELD_LIMIT = 4096
# A path of ours to return to: no scheme, host, backslash, control character or space.
_LOCAL_PATH = re.compile(r"/[A-Za-z0-9/_.~?=&%+-]{0,1000}")
# What `/login?error=` may say (auth's OAuth callback); anything else is `oauth_failed`.
OAUTH_ERRORS = ("oauth_failed", "oauth_cancelled", "oauth_unavailable", "oauth_email_unverified")


def render(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    language = i18n.language_of(request)
    full = {
        "language": language,
        "languages": i18n.LANGUAGES,
        "theme": i18n.theme_of(request),
        "themes": i18n.THEMES,
        "path": request.path,
        "csrf_token": "",
        **context,
    }
    response = aiohttp_jinja2.render_template(
        template, request, full, status=status, app_key=ENVIRONMENTS[language]
    )
    return response


def _field(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    return value[:_FIELD_LIMIT] if isinstance(value, str) else ""


def _redirect(location: str, answer: Answer | None = None) -> web.HTTPSeeOther:
    response = web.HTTPSeeOther(location)
    for cookie in answer.set_cookies if answer else ():
        response.headers.add("Set-Cookie", cookie)
    return response


async def _form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form (its Origin was checked by `security.middleware`)."""
    return await request.post()


def _problem(answer: Answer) -> dict[str, Any]:
    """The template's `problem`: a known case (translated in the template) or the API's words."""
    kinds = {401: "credentials", 429: "throttled", 503: "unavailable"}
    if answer.status == 403 and answer.error_message and "csrf" in answer.error_message.lower():
        kind = "csrf"
    elif answer.status == 403 and answer.error_message and "origin" in answer.error_message.lower():
        kind = "csrf"
    elif answer.error_code == "additional_verification_required":
        kind = "mailed_link"
    else:
        kind = kinds.get(answer.status, "other")
    return {
        "kind": kind,
        "message": answer.error_message or "",
        "details": answer.error_details,
    }


# --- signed-in pages -------------------------------------------------------


async def overview(request: web.Request) -> web.StreamResponse:
    me = await call(request, "GET", "/api/me")
    if me.status == 401:
        raise web.HTTPSeeOther("/login")
    if not me.ok:
        return render(request, "error.html", {"problem": _problem(me)}, status=502)
    session = await call(request, "GET", "/api/auth/session")
    balance = await call(request, "GET", "/api/billing/balance")
    return render(
        request,
        "overview.html",
        {
            "me": me.body,
            "balance": balance.body if balance.ok else None,
            "signed_in": True,
            "csrf_token": (session.body or {}).get("csrf_token", "") if session.ok else "",
        },
    )


async def logout(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    answer = await call(request, "POST", "/api/auth/logout", csrf_token=_field(form, "csrf_token"))
    if answer.ok or answer.status == 401:
        raise _redirect("/login", answer)
    return render(request, "error.html", {"problem": _problem(answer)}, status=answer.status)


# --- sign-in ---------------------------------------------------------------


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
    if mfa_token := query.get("mfa_token", "")[:_FIELD_LIMIT]:
        return render(request, "login_mfa.html", {"mfa_token": mfa_token, "action": "/login/mfa"})
    if link_token := query.get("link_token", "")[:_FIELD_LIMIT]:
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
    form = await _form(request)
    login_name = _field(form, "login")
    answer = await call(
        request,
        "POST",
        "/api/auth/login",
        json={"login": login_name, "password": _field(form, "password"), "session": True},
    )
    if answer.ok and isinstance(answer.body, dict) and answer.body.get("mfa_required"):
        token = str(answer.body.get("mfa_token", ""))
        return render(request, "login_mfa.html", {"mfa_token": token, "action": "/login/mfa"})
    if answer.ok:
        raise _redirect("/", answer)
    return render(
        request,
        "login.html",
        {"providers": await _providers(request), "problem": _problem(answer), "login": login_name},
        status=answer.status,
    )


async def login_mfa(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    token = _field(form, "mfa_token")
    answer = await call(
        request,
        "POST",
        "/api/auth/login/mfa",
        json={"mfa_token": token, "code": _field(form, "code")},
    )
    if answer.ok:
        raise _redirect("/", answer)
    return render(
        request,
        "login_mfa.html",
        {"mfa_token": token, "action": "/login/mfa", "problem": _problem(answer)},
        status=answer.status,
    )


async def login_link(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    token = _field(form, "link_token")
    body: dict[str, Any] = {"link_token": token, "password": _field(form, "password")}
    if code := _field(form, "code"):
        body["code"] = code
    answer = await call(request, "POST", "/api/auth/oauth/link", json=body)
    if answer.ok:
        raise _redirect("/", answer)
    return render(
        request,
        "login_link.html",
        {"link_token": token, "provider": "", "problem": _problem(answer)},
        status=answer.status,
    )


def _token_page(request: web.Request, template: str) -> web.StreamResponse:
    """A mailed link's page: the token from the query in a form whose button posts it
    (opening a link changes nothing by itself)."""
    return render(request, template, {"token": request.query.get("token", "")[:_FIELD_LIMIT]})


async def sign_in_link_page(request: web.Request) -> web.StreamResponse:
    """`/sign-in-link?token=`: the mailed link's page; a button posts the token."""
    return _token_page(request, "sign_in_link.html")


async def sign_in_link(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    answer = await call(
        request, "POST", "/api/auth/login/link", json={"token": _field(form, "token")}
    )
    if answer.ok:
        raise _redirect("/", answer)
    return render(
        request,
        "sign_in_link.html",
        {"token": "", "problem": _problem(answer)},
        status=answer.status,
    )


# --- sign-up and verification ---------------------------------------------


async def signup_page(request: web.Request) -> web.StreamResponse:
    return render(request, "signup.html", {"email": "", "username": ""})


async def signup(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    email, username = _field(form, "email"), _field(form, "username")
    answer = await call(
        request,
        "POST",
        "/api/auth/signup",
        json={"email": email, "username": username, "password": _field(form, "password")},
    )
    if answer.ok:
        raise _redirect("/signup/check-mail")
    problem = _problem(answer)
    if answer.status == 409:
        problem["kind"] = "username_taken"
    return render(
        request,
        "signup.html",
        {"email": email, "username": username, "problem": problem},
        status=answer.status,
    )


async def check_mail(request: web.Request) -> web.StreamResponse:
    return render(request, "check_mail.html", {})


async def verify_page(request: web.Request) -> web.StreamResponse:
    return _token_page(request, "verify_email.html")


async def verify(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    answer = await call(
        request, "POST", "/api/auth/verify-email", json={"token": _field(form, "token")}
    )
    if answer.ok:
        return render(request, "verified.html", {})
    return render(
        request,
        "verify_email.html",
        {"token": "", "problem": _problem(answer)},
        status=answer.status,
    )


# --- passwords -------------------------------------------------------------


async def forgot_page(request: web.Request) -> web.StreamResponse:
    return render(request, "forgot_password.html", {})


async def forgot(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    answer = await call(
        request, "POST", "/api/auth/password-reset", json={"email": _field(form, "email")}
    )
    if answer.ok:
        return render(request, "forgot_sent.html", {})
    return render(
        request, "forgot_password.html", {"problem": _problem(answer)}, status=answer.status
    )


async def reset_page(request: web.Request) -> web.StreamResponse:
    return _token_page(request, "reset_password.html")


async def reset(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    token = _field(form, "token")
    answer = await call(
        request,
        "POST",
        "/api/auth/password-reset/confirm",
        json={"token": token, "password": _field(form, "password")},
    )
    if answer.ok:
        raise _redirect("/login?" + urlencode({"reset": "1"}))
    problem = _problem(answer)
    if answer.status == 400:  # the token is unknown, used or expired: no form to retry
        problem["kind"], token = "link_invalid", ""
    return render(
        request, "reset_password.html", {"token": token, "problem": problem}, status=answer.status
    )


# --- preferences -----------------------------------------------------------


def _back(form: MultiDictProxy[Any]) -> str:
    """Where a preference form returns: a path of ours, never another site."""
    target = _field(form, "next")
    if not _LOCAL_PATH.fullmatch(target) or target.startswith("//"):
        return "/"
    return target


async def preferences(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    response = web.HTTPSeeOther(_back(form))
    year = 365 * 24 * 3600
    if (language := _field(form, "lang")) in i18n.LANGUAGES:
        response.set_cookie("lang", language, max_age=year, path="/", samesite="Lax", httponly=True)
    if (theme := _field(form, "theme")) in i18n.THEMES:
        response.set_cookie("theme", theme, max_age=year, path="/", samesite="Lax", httponly=True)
    raise response
