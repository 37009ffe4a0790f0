"""The console application: server-rendered pages (Jinja2, htmx), internal.

It runs behind the gateway, which forwards every path outside the API, model
and health paths to it (`services/gateway/console_proxy.py`) with the
internal token; nothing else may call it. Its data comes only from the
gateway's public JSON API (`api_client`), so it holds no state and reads no
store (the PostgreSQL and Redis clients of `base_app` serve `/readyz` only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from services.console import i18n, pages, security
from services.console.api_client import API_CLIENT
from services.console.keys import SETTINGS
from services.console.settings import Settings
from shared.service import base_app

HERE = Path(__file__).parent


def create_app(settings: Settings) -> web.Application:
    app = base_app("console", settings.common, internal=True, middlewares=(security.middleware,))
    app[SETTINGS] = settings
    app.on_response_prepare.append(security.on_prepare)
    for language, catalog in i18n.load().items():
        environment = aiohttp_jinja2.setup(
            app,
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            app_key=pages.ENVIRONMENTS[language],
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
        )
        environment.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    app.cleanup_ctx.append(_client)
    _routes(app)
    return app


async def _client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        app[API_CLIENT] = session
        yield


def _routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/", pages.overview)
    router.add_get("/login", pages.login_page)
    router.add_post("/login", pages.login)
    router.add_post("/login/mfa", pages.login_mfa)
    router.add_post("/login/link", pages.login_link)
    router.add_get("/sign-in-link", pages.sign_in_link_page)
    router.add_post("/sign-in-link", pages.sign_in_link)
    router.add_post("/logout", pages.logout)
    router.add_get("/signup", pages.signup_page)
    router.add_post("/signup", pages.signup)
    router.add_get("/signup/check-mail", pages.check_mail)
    router.add_get("/verify-email", pages.verify_page)
    router.add_post("/verify-email", pages.verify)
    router.add_get("/forgot-password", pages.forgot_page)
    router.add_post("/forgot-password", pages.forgot)
    router.add_get("/reset-password", pages.reset_page)
    router.add_post("/reset-password", pages.reset)
    router.add_post("/preferences", pages.preferences)
    router.add_static("/static/", HERE / "static", append_version=False)
