"""What every console page shares: rendering a template in the visitor's language
and theme, reading a posted form, turning an API answer into the page's
`problem`, and the signed-in context (`signed_in`).

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
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from services.console import i18n
from services.console.api_client import Answer, call
from services.console.app_keys import SETTINGS
from shared.time_zones import UTC_NAME, zone_problem

ENVIRONMENTS = {
    language: web.AppKey(f"console_jinja_{language}", jinja2.Environment)
    for language in i18n.LANGUAGES
}
FIELD_LIMIT = 4096
# A path of ours to return to: no scheme, host, backslash, control character or space.
_LOCAL_PATH = re.compile(r"/[A-Za-z0-9/_.~?=&%+-]{0,1000}")


def render(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    me = context.get("me")  # a signed-in page: the account's language comes first
    language = i18n.language_of(request, me.get("language") if isinstance(me, dict) else None)
    full = {
        "language": language,
        "languages": i18n.LANGUAGES,
        "theme": i18n.theme_of(request),
        "themes": i18n.THEMES,
        "path": request.path,
        # Where the footer's preferences form comes back to: the page with its query
        # (a result page's order, the usage filters), as `back` accepts it.
        "path_qs": request.path_qs if _LOCAL_PATH.fullmatch(request.path_qs) else request.path,
        "csrf_token": "",
        "analytics": request.app[SETTINGS].product_analytics,
        "analytics_event": "",
        **context,
    }
    response = aiohttp_jinja2.render_template(
        template, request, full, status=status, app_key=ENVIRONMENTS[language]
    )
    return response


def field(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    return value[:FIELD_LIMIT] if isinstance(value, str) else ""


def redirect(location: str, answer: Answer | None = None) -> web.HTTPSeeOther:
    response = web.HTTPSeeOther(location)
    for cookie in answer.set_cookies if answer else ():
        response.headers.add("Set-Cookie", cookie)
    return response


async def form_of(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form (its Origin was checked by `security.middleware`)."""
    return await request.post()


def problem_of(answer: Answer) -> dict[str, Any]:
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


@dataclass(frozen=True)
class SignedIn:
    """The visitor of a signed-in page: `/api/me`'s answer and the session's CSRF token."""

    me: dict[str, Any]
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.me.get("role") == "admin"

    def context(self) -> dict[str, Any]:
        """What `base.html` needs to draw the signed-in header."""
        return {
            "me": self.me,
            "signed_in": True,
            "is_admin": self.is_admin,
            "csrf_token": self.csrf_token,
        }


async def signed_in(request: web.Request) -> SignedIn:
    """The signed-in visitor, or a redirect to the sign-in page (raised)."""
    me = await call(request, "GET", "/api/me")
    if me.status == 401:
        raise web.HTTPSeeOther("/login")
    if not me.ok or not isinstance(me.body, dict):
        raise web.HTTPBadGateway(text="The account cannot be read right now.")
    session = await call(request, "GET", "/api/auth/session")
    token = ""
    if session.ok and isinstance(session.body, dict):
        token = str(session.body.get("csrf_token", ""))
    return SignedIn(me.body, token)


def back(form: MultiDictProxy[Any], default: str = "/") -> str:
    """Where a form returns: a path of ours, never another site."""
    target = field(form, "next")
    if not _LOCAL_PATH.fullmatch(target) or target.startswith("//"):
        return default
    return target


def time_zone_of(request: web.Request, me: Mapping[str, Any]) -> str:
    """The zone the visitor's days are cut in: the profile's (`time_zone` of
    `/api/me`), else the browser's (the `tz` cookie static/timezone.js sets),
    else UTC. Only a name the IANA database lists is taken from either."""
    for chosen in (me.get("time_zone"), request.cookies.get("tz")):
        if isinstance(chosen, str) and zone_problem(chosen) is None:
            return chosen
    return UTC_NAME
