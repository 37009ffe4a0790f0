"""Settings, the profile page (`/settings`): display name, username, the account's
language and time zone (`PATCH /api/me`), and the theme (the footer's cookie).

The security page (email, password, two-factor) is `settings_security`, the
sessions page `settings_sessions`; the three share `settings_nav.html`. A form
that worked returns to its page with `?saved=<what>`, which the page turns into
a sentence of ours (only the names in `SAVED` are shown).
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from aiohttp import web

from services.console import i18n
from services.console.api_client import call
from services.console.pages.preferences import keep_language
from services.console.render import (
    SignedIn,
    field,
    form_of,
    problem_of,
    redirect,
    render,
    signed_in,
)

SAVED = ("profile", "email", "password", "two_factor_off", "revoked", "others")


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA names a person may pick (the API takes any the database lists)."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def saved(request: web.Request) -> str:
    what = request.query.get("saved", "")
    return what if what in SAVED else ""


def profile_page(
    request: web.Request,
    visitor: SignedIn,
    *,
    values: dict[str, Any] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    me = visitor.me
    shown = {
        "display_name": me.get("display_name") or "",
        "username": me.get("username") or "",
        "account_language": me.get("language") or i18n.DEFAULT,
        "time_zone": me.get("time_zone") or "",
        **(values or {}),
    }
    return render(
        request,
        "settings.html",
        {
            **visitor.context(),
            "form": shown,
            "time_zones": time_zones(),
            "saved": saved(request),
            "problem": problem,
        },
        status=status,
    )


async def profile(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    return profile_page(request, visitor)


async def save_profile(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    values = {
        "display_name": field(form, "display_name").strip(),
        "username": field(form, "username").strip(),
        "account_language": field(form, "language"),
        "time_zone": field(form, "time_zone"),
    }
    changes: dict[str, Any] = {
        "display_name": values["display_name"] or None,
        "username": values["username"],
        "language": values["account_language"],
        "time_zone": values["time_zone"] or None,
    }
    answer = await call(
        request, "PATCH", "/api/me", json=changes, csrf_token=field(form, "csrf_token")
    )
    if answer.ok:
        response = redirect("/settings?saved=profile")
        if values["account_language"] in i18n.LANGUAGES:  # signed out, the pages keep it too
            keep_language(response, values["account_language"])
        raise response
    visitor = await signed_in(request)
    problem = problem_of(answer)
    if answer.status == 409:
        problem["kind"] = "username_taken"
    return profile_page(request, visitor, values=values, problem=problem, status=answer.status)


async def back_to_profile(request: web.Request) -> web.StreamResponse:
    """A GET of the form's address (the footer's form returns to the page's path)."""
    raise redirect("/settings")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/settings", profile)
    router.add_post("/settings/profile", save_profile)
    router.add_get("/settings/profile", back_to_profile)
