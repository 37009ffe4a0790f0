"""Settings, the security page (`/settings/security`): the email address, the
password and two-factor sign-in.

- Email: `POST /api/me/email` {email, password} mails a link to the new address;
  the page says so (the account keeps its address until the link is opened).
  The link's page (`/confirm-email?token=`) posts the token with a button
  (`POST /api/auth/confirm-email`); the change ends every session, so the
  page then asks the person to sign in with the new address.
- Password: `POST /api/me/password`; the API voids every session and answers a
  fresh session cookie, which goes back to the browser with the redirect.
- Two-factor: turning it on shows the API's QR code (an SVG, shown as an
  `<img>` from a `data:` URL so that nothing in it runs or needs a style),
  the secret for typing in by hand, and a field for the first code; a right
  code shows the ten recovery codes, once. The console keeps nothing between
  the two steps: the enrolment page carries the pending secret and its QR
  code in hidden fields (to show them again after a wrong code; the API
  holds the secret that counts). Turning it off needs the password and a
  code; new recovery codes need a code.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from aiohttp import web

from services.console.api_client import Answer, call
from services.console.pages.settings import saved
from services.console.pages.sign_in import token_page
from services.console.render import (
    SignedIn,
    field,
    form_of,
    problem_of,
    redirect,
    render,
    signed_in,
)

_QR_DATA = re.compile(r"data:image/svg\+xml;base64,[A-Za-z0-9+/]{1,40000}={0,2}")
_SECRET = re.compile(r"[A-Z2-7]{16,128}")


def _problem(answer: Answer, wrong: str) -> dict[str, Any]:
    """The page's problem; a refused password or code (403) is `wrong`."""
    problem = problem_of(answer)
    if answer.status == 403 and problem["kind"] != "csrf":
        problem["kind"] = wrong
    return problem


def security_page(
    request: web.Request, visitor: SignedIn, *, status: int = 200, **extra: Any
) -> web.Response:
    context: dict[str, Any] = {
        **visitor.context(),
        "saved": saved(request),
        "problem": None,
        "section": "",
        "new_email": "",
        **extra,
    }
    return render(request, "settings_security.html", context, status=status)


async def security(request: web.Request) -> web.StreamResponse:
    return security_page(request, await signed_in(request))


async def change_email(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    email = field(form, "email").strip()
    answer = await call(
        request,
        "POST",
        "/api/me/email",
        json={"email": email, "password": field(form, "password")},
        csrf_token=field(form, "csrf_token"),
    )
    visitor = await signed_in(request)
    if answer.ok:
        sent = str(answer.body.get("email", email)) if isinstance(answer.body, dict) else email
        return security_page(request, visitor, mailed_to=sent)
    return security_page(
        request,
        visitor,
        status=answer.status,
        section="email",
        new_email=email,
        problem=_problem(answer, "wrong_password"),
    )


async def change_password(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request,
        "POST",
        "/api/me/password",
        json={
            "current_password": field(form, "current_password"),
            "new_password": field(form, "new_password"),
        },
        csrf_token=field(form, "csrf_token"),
    )
    if answer.ok:  # every session is void: the answer's new cookie replaces this one
        raise redirect("/settings/security?saved=password", answer)
    visitor = await signed_in(request)
    return security_page(
        request,
        visitor,
        status=answer.status,
        section="password",
        problem=_problem(answer, "wrong_password"),
    )


def _enrolment_page(
    request: web.Request,
    visitor: SignedIn,
    *,
    secret: str,
    qr: str,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "settings_two_factor.html",
        {**visitor.context(), "secret": secret, "qr": qr, "problem": problem},
        status=status,
    )


async def start_two_factor(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(request, "POST", "/api/me/totp", csrf_token=field(form, "csrf_token"))
    visitor = await signed_in(request)
    if not answer.ok or not isinstance(answer.body, dict):
        return security_page(
            request, visitor, status=answer.status, section="two_factor", problem=problem_of(answer)
        )
    svg = str(answer.body.get("qr_svg", "")).encode()
    qr = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    return _enrolment_page(request, visitor, secret=str(answer.body.get("secret", "")), qr=qr)


async def confirm_two_factor(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request,
        "POST",
        "/api/me/totp/confirm",
        json={"code": field(form, "code").strip()},
        csrf_token=field(form, "csrf_token"),
    )
    visitor = await signed_in(request)
    if answer.ok and isinstance(answer.body, dict):
        return _codes_page(request, visitor, answer, turned_on=True)
    # Shown again as it was: only a QR data URL and a base-32 secret are taken back.
    qr, secret = form.get("qr", ""), field(form, "secret")  # a QR code is longer than a field
    qr = qr if isinstance(qr, str) else ""
    if _QR_DATA.fullmatch(qr) is None or _SECRET.fullmatch(secret) is None:
        raise redirect("/settings/security")
    problem = problem_of(answer)
    if answer.status == 422:
        problem = {"kind": "wrong_code", "message": "", "details": []}
    return _enrolment_page(
        request, visitor, secret=secret, qr=qr, problem=problem, status=answer.status
    )


def _codes_page(
    request: web.Request, visitor: SignedIn, answer: Answer, *, turned_on: bool
) -> web.Response:
    codes = answer.body.get("recovery_codes", []) if isinstance(answer.body, dict) else []
    return render(
        request,
        "settings_recovery_codes.html",
        {
            **visitor.context(),
            "codes": [str(code) for code in codes],
            "turned_on": turned_on,
        },
    )


async def new_recovery_codes(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request,
        "POST",
        "/api/me/totp/recovery-codes",
        json={"code": field(form, "code").strip()},
        csrf_token=field(form, "csrf_token"),
    )
    visitor = await signed_in(request)
    if answer.ok:
        return _codes_page(request, visitor, answer, turned_on=False)
    return security_page(
        request,
        visitor,
        status=answer.status,
        section="recovery_codes",
        problem=_problem(answer, "wrong_code"),
    )


async def turn_off_two_factor(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request,
        "DELETE",
        "/api/me/totp",
        json={"password": field(form, "password"), "code": field(form, "code").strip()},
        csrf_token=field(form, "csrf_token"),
    )
    if answer.ok:
        raise redirect("/settings/security?saved=two_factor_off")
    visitor = await signed_in(request)
    return security_page(
        request,
        visitor,
        status=answer.status,
        section="two_factor_off",
        problem=_problem(answer, "wrong_password_or_code"),
    )


async def confirm_email_page(request: web.Request) -> web.StreamResponse:
    """`/confirm-email?token=`: the link mailed to the new address; a button posts it."""
    return token_page(request, "confirm_email.html")


async def confirm_email(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(
        request, "POST", "/api/auth/confirm-email", json={"token": field(form, "token")}
    )
    if answer.ok and isinstance(answer.body, dict):
        # Every session of the account ended with the change: the person signs in again.
        email = str(answer.body.get("email", ""))
        return render(request, "email_changed.html", {"email": email})
    problem = problem_of(answer)
    if answer.status == 400:
        problem["kind"] = "link_invalid"
    elif answer.status == 409:
        problem["kind"] = "email_taken"
    return render(
        request, "confirm_email.html", {"token": "", "problem": problem}, status=answer.status
    )


async def back_to_security(request: web.Request) -> web.StreamResponse:
    """A GET of a form's address (the footer's form returns to the page's path)."""
    raise redirect("/settings/security")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/settings/security", security)
    router.add_get("/confirm-email", confirm_email_page)
    router.add_post("/confirm-email", confirm_email)
    for path in (
        "/settings/email",
        "/settings/password",
        "/settings/two-factor",
        "/settings/two-factor/confirm",
        "/settings/two-factor/recovery-codes",
        "/settings/two-factor/off",
    ):
        router.add_get(path, back_to_security)
    router.add_post("/settings/email", change_email)
    router.add_post("/settings/password", change_password)
    router.add_post("/settings/two-factor", start_two_factor)
    router.add_post("/settings/two-factor/confirm", confirm_two_factor)
    router.add_post("/settings/two-factor/recovery-codes", new_recovery_codes)
    router.add_post("/settings/two-factor/off", turn_off_two_factor)
