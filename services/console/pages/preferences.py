"""The footer's language and theme form: cookies kept for a year."""

from __future__ import annotations

from aiohttp import web

from services.console import i18n
from services.console.render import back, field, form_of


async def preferences(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    response = web.HTTPSeeOther(back(form))
    year = 365 * 24 * 3600
    if (language := field(form, "lang")) in i18n.LANGUAGES:
        response.set_cookie("lang", language, max_age=year, path="/", samesite="Lax", httponly=True)
    if (theme := field(form, "theme")) in i18n.THEMES:
        response.set_cookie("theme", theme, max_age=year, path="/", samesite="Lax", httponly=True)
    raise response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/preferences", preferences)
