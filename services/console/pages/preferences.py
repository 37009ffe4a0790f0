"""The footer's language and theme form: cookies kept for a year. On a signed-in
page the form carries the session's CSRF token, and the language is also saved
to the account (`PATCH /api/me`), which signed-in pages follow before the
cookie (`render`); mails follow it too."""

from __future__ import annotations

from aiohttp import web

from services.console import i18n
from services.console.api_client import call
from services.console.render import back, field, form_of

YEAR = 365 * 24 * 3600


def keep_language(response: web.StreamResponse, language: str) -> None:
    response.set_cookie("lang", language, max_age=YEAR, path="/", samesite="Lax", httponly=True)


async def preferences(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    response = web.HTTPSeeOther(back(form))
    if (language := field(form, "lang")) in i18n.LANGUAGES:
        keep_language(response, language)
        if csrf_token := field(form, "csrf_token"):  # signed in: the account keeps it too
            await call(
                request, "PATCH", "/api/me", json={"language": language}, csrf_token=csrf_token
            )
    if (theme := field(form, "theme")) in i18n.THEMES:
        response.set_cookie("theme", theme, max_age=YEAR, path="/", samesite="Lax", httponly=True)
    raise response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/preferences", preferences)
