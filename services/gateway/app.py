"""The gateway application: the only public edge.

It relays model traffic (`/v1/*`, `/v1beta/*`) to the channels, serves the
channel admin API, and forwards the rest of `/api/*` to the service that owns
the path, after checking the caller's JWT (locally, from auth's JWKS) or API
key (through auth, cached, dropped on revocation). Internal endpoints are not
routed.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet

from services.gateway.channel_cache import ChannelCache
from services.gateway.channel_store import ChannelStore
from services.gateway.hold_gate import HoldGate
from services.gateway.key_cache import KeyCache
from services.gateway.keys import (
    CHANNEL_CACHE,
    CHANNEL_STORE,
    HOLD_GATE,
    INTERNAL_SESSION,
    JWKS,
    KEY_CACHE,
    PRICES,
    RELAY_METRICS,
    SETTINGS,
    UPSTREAM_SESSION,
    USAGE_SINK,
)
from services.gateway.price_cache import PriceCache
from services.gateway.relay_metrics import RelayMetrics
from services.gateway.routes import setup_routes
from services.gateway.settings import Settings
from services.gateway.spool import Spool
from services.gateway.tokens import Jwks
from services.gateway.usage_publisher import UsagePublisher
from shared import invalidation, tasks
from shared.holds import Holds
from shared.metrics import METRICS
from shared.service import DB, REDIS, base_app


def create_app(settings: Settings) -> web.Application:
    app = base_app(
        "gateway", settings.common, internal=False, client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[RELAY_METRICS] = RelayMetrics(app[METRICS].registry)
    app.cleanup_ctx.append(_clients)
    app.cleanup_ctx.append(_channels)
    app.cleanup_ctx.append(_metering)
    app.cleanup_ctx.append(_invalidations)
    setup_routes(app)
    return app


async def _clients(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    token = settings.common.internal_token
    internal = aiohttp.TCPConnector(limit=200, ttl_dns_cache=300)
    upstream = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    async with (
        aiohttp.ClientSession(connector=internal, auto_decompress=False) as internal_session,
        aiohttp.ClientSession(
            connector=upstream, auto_decompress=False, skip_auto_headers=("User-Agent",)
        ) as upstream_session,
    ):
        app[INTERNAL_SESSION] = internal_session
        app[UPSTREAM_SESSION] = upstream_session
        app[JWKS] = Jwks(internal_session, settings.auth_url, token, settings.jwt_issuer)
        app[KEY_CACHE] = KeyCache(
            internal_session, settings.auth_url, token, settings.key_cache_seconds
        )
        app[PRICES] = PriceCache(internal_session, settings.billing_url, token)
        yield


async def _channels(app: web.Application) -> AsyncIterator[None]:
    fernet = MultiFernet([Fernet(key) for key in app[SETTINGS].secret_keys])
    app[CHANNEL_STORE] = ChannelStore(app[DB], fernet)
    app[CHANNEL_CACHE] = ChannelCache(app[CHANNEL_STORE])
    await app[CHANNEL_CACHE].reload()
    yield


async def _metering(app: web.Application) -> AsyncIterator[None]:
    """Prices, holds, and the usage publisher with its spool replayer."""
    settings = app[SETTINGS]
    await app[PRICES].reload()
    holds = Holds(app[REDIS])
    app[HOLD_GATE] = HoldGate(
        holds, app[INTERNAL_SESSION], settings.billing_url, settings.common.internal_token
    )
    spool = Spool(settings.spool_dir, f"gateway-{socket.gethostname()}-{os.getpid()}")
    spool.open()
    publisher = UsagePublisher(app[REDIS], holds, spool, app[PRICES], app[RELAY_METRICS])
    app[USAGE_SINK] = publisher
    stop = asyncio.Event()
    task = tasks.spawn(publisher.replay(stop), name="spool-replay")
    yield
    stop.set()
    await task


async def _invalidations(app: web.Application) -> AsyncIterator[None]:
    key_cache, channel_cache, prices = app[KEY_CACHE], app[CHANNEL_CACHE], app[PRICES]

    async def on_live(live: bool) -> None:
        await key_cache.on_live(live)
        await channel_cache.on_live(live)
        await prices.on_live(live)

    follower = invalidation.Follower(
        app[REDIS],
        {
            invalidation.KEY_REVOKED: key_cache.on_revoked,
            invalidation.CHANNELS_CHANGED: channel_cache.on_changed,
            invalidation.PRICES_CHANGED: prices.on_changed,
        },
        on_live,
    )
    stop = asyncio.Event()
    task = tasks.spawn(follower.run(stop), name="invalidations")
    yield
    stop.set()
    await task
