"""The console application: server-rendered pages (Jinja2, htmx), internal.

It runs behind the gateway, which forwards every path outside the API, model
and health paths to it (`services/gateway/edge/console_proxy.py`) with the
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

from services.console import error_pages, i18n, security
from services.console.api_client import API_CLIENT
from services.console.app_keys import SETTINGS
from services.console.pages import (
    admin_aliases,
    admin_channels,
    admin_groups,
    admin_orders,
    admin_prices,
    admin_redemption,
    admin_system,
    admin_users,
    billing,
    billing_alert,
    billing_redeem,
    billing_topup,
    keys,
    keys_policy,
    overview,
    passwords,
    preferences,
    settings,
    settings_security,
    settings_sessions,
    sign_in,
    signup,
    usage,
)
from services.console.render import ENVIRONMENTS
from services.console.settings import Settings
from shared.service import base_app

HERE = Path(__file__).parent


def create_app(settings: Settings) -> web.Application:
    app = base_app(
        "console",
        settings.common,
        internal=True,
        middlewares=(error_pages.middleware, security.middleware),
    )
    app[SETTINGS] = settings
    app.on_response_prepare.append(security.on_prepare)
    for language, catalog in i18n.load().items():
        environment = aiohttp_jinja2.setup(
            app,
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            app_key=ENVIRONMENTS[language],
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
        )
        environment.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
        # An API error's words, translated when the catalog has them (`api_messages`).
        environment.filters["api_text"] = catalog.gettext
    app.cleanup_ctx.append(_client)
    _routes(app)
    return app


async def _client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        app[API_CLIENT] = session
        yield


# Each area of the console adds its own routes; a new area is one module and one line here.
PAGE_AREAS = (
    sign_in,
    signup,
    passwords,
    preferences,
    overview,
    settings,
    settings_security,
    settings_sessions,
    keys,
    keys_policy,
    usage,
    billing,
    billing_alert,
    billing_redeem,
    billing_topup,
    admin_channels,
    admin_prices,
    admin_aliases,
    admin_redemption,
    admin_orders,
    admin_system,
    admin_users,
    admin_groups,
)


def _routes(app: web.Application) -> None:
    for area in PAGE_AREAS:
        area.add_routes(app.router)
    app.router.add_static("/static/", HERE / "static", append_version=False)
