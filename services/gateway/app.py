"""The gateway application: the only public edge.

It forwards `/api/*` to the service that owns the path, after checking the
caller's JWT (locally, from auth's JWKS) or API key (through auth, cached,
dropped on revocation). Internal endpoints are not routed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.gateway import api_proxy
from services.gateway.key_cache import KeyCache
from services.gateway.keys import INTERNAL_SESSION, JWKS, KEY_CACHE, SETTINGS
from services.gateway.settings import Settings
from services.gateway.tokens import Jwks
from shared import tasks
from shared.service import REDIS, base_app

RELAY_BODY_LIMIT = 10 * 1024 * 1024


def create_app(settings: Settings) -> web.Application:
    app = base_app("gateway", settings.common, internal=False, client_max_size=RELAY_BODY_LIMIT)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_internal_clients)
    app.cleanup_ctx.append(_revocation_feed)
    app.router.add_route("*", "/api/{tail:.*}", api_proxy.forward)
    app.router.add_get("/.well-known/jwks.json", api_proxy.jwks_document)
    return app


async def _internal_clients(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    token = settings.common.internal_token
    connector = aiohttp.TCPConnector(limit=200, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        app[INTERNAL_SESSION] = session
        app[JWKS] = Jwks(session, settings.auth_url, token, settings.jwt_issuer)
        app[KEY_CACHE] = KeyCache(session, settings.auth_url, token, settings.key_cache_seconds)
        yield


async def _revocation_feed(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    feed = app[KEY_CACHE].follow_revocations(app[REDIS], stop)
    task = tasks.spawn(feed, name="key-revocations")
    yield
    stop.set()
    await task
