"""The gateway application: the only public edge.

It relays model traffic (`/v1/*`, `/v1beta/*`) to the channels, serves the
channel admin API, and forwards the rest of `/api/*` to the service that owns
the path, after checking the caller's JWT (locally, from auth's JWKS), API
key or browser session cookie (through auth, cached, dropped on revocation).
Internal endpoints are not routed.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet

from services.gateway.admission import limit_headers
from services.gateway.admission.key_cache import KeyCache
from services.gateway.admission.login_tokens import Jwks
from services.gateway.admission.session_cache import SessionCache
from services.gateway.admission.user_generations import UserGenerations
from services.gateway.app_keys import (
    CHANNEL_CACHE,
    CHANNEL_STORE,
    CHANNEL_SWITCH,
    HOLD_GATE,
    INTERNAL_SESSION,
    JWKS,
    KEY_CACHE,
    PRICES,
    RELAY_METRICS,
    ROUTER,
    SESSION_CACHE,
    SETTINGS,
    UPSTREAMS,
    USAGE_SINK,
    USER_GENERATIONS,
)
from services.gateway.channels.alias_store import AliasStore
from services.gateway.channels.auto_disable import ChannelSwitch
from services.gateway.channels.breaker import BreakerPolicy
from services.gateway.channels.cache import ChannelCache
from services.gateway.channels.choice import Channel, Timeouts
from services.gateway.channels.health import ChannelHealth
from services.gateway.channels.metrics import ChannelMetrics, HealthCollector
from services.gateway.channels.probe import ProbeResult, probe
from services.gateway.channels.store import ChannelStore
from services.gateway.metering.billing_progress import BillingProgress
from services.gateway.metering.hold_gate import HoldGate
from services.gateway.metering.hold_keeper import HoldKeeper
from services.gateway.metering.price_cache import PriceCache
from services.gateway.metering.spool import Spool
from services.gateway.metering.usage_publisher import UsagePublisher
from services.gateway.relay.failover import Router, RoutingPolicy, Upstreams
from services.gateway.relay.metrics import RelayMetrics
from services.gateway.routes import setup_routes
from services.gateway.settings import Settings
from services.gateway.upstream.client import UpstreamClient
from shared import invalidation, tasks
from shared.holds import Holds
from shared.metrics import METRICS
from shared.redis_batch import CommandBatcher
from shared.service import DB, REDIS, base_app


def create_app(settings: Settings) -> web.Application:
    app = base_app(
        "gateway", settings.common, internal=False, client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[RELAY_METRICS] = RelayMetrics(app[METRICS].registry)
    app.on_response_prepare.append(limit_headers.apply)  # rate-limit headers (DESIGN 13)
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
    upstreams = Upstreams(guarded=UpstreamClient(guarded=True), open=UpstreamClient(guarded=False))
    # No cookie jar: a Set-Cookie from auth or the console is the browser's, never
    # kept and sent along with another caller's request.
    async with aiohttp.ClientSession(
        connector=internal, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as internal_session:
        app[INTERNAL_SESSION] = internal_session
        app[UPSTREAMS] = upstreams
        # A JWT older than its user's token generation (a password or email
        # change since) is refused: services/gateway/admission/user_generations.py.
        generations = app[USER_GENERATIONS] = UserGenerations(
            internal_session, settings.auth_url, token, settings.key_cache_seconds
        )
        app[JWKS] = Jwks(
            internal_session, settings.auth_url, token, settings.jwt_issuer, generations
        )
        app[KEY_CACHE] = KeyCache(
            internal_session, settings.auth_url, token, settings.key_cache_seconds
        )
        app[PRICES] = PriceCache(internal_session, settings.billing_url, token)
        app[SESSION_CACHE] = SessionCache(
            internal_session, settings.auth_url, token, settings.session_cache_seconds
        )
        try:
            yield
        finally:
            await upstreams.guarded.close()
            await upstreams.open.close()


async def _channels(app: web.Application) -> AsyncIterator[None]:
    """The routing table, channel health, the router, and the channel prober."""
    settings = app[SETTINGS]
    fernet = MultiFernet([Fernet(key) for key in settings.secret_keys])
    store = app[CHANNEL_STORE] = ChannelStore(app[DB], fernet)
    health = ChannelHealth(
        BreakerPolicy(
            consecutive_failures=settings.breaker_failures,
            open_seconds=settings.breaker_open_seconds,
        )
    )
    cache = app[CHANNEL_CACHE] = ChannelCache(store, AliasStore(app[DB]), health)
    await cache.reload()
    app[METRICS].registry.register(HealthCollector(lambda: (cache.table, health)))
    upstreams, timeouts = app[UPSTREAMS], _default_timeouts(settings)

    async def prober(channel: Channel, model: str) -> ProbeResult:
        return await probe(upstreams.for_channel(channel), channel, model, timeouts)

    switch = app[CHANNEL_SWITCH] = ChannelSwitch(
        store, cache, app[REDIS], prober, probe_seconds=settings.probe_seconds
    )
    app[ROUTER] = Router(
        upstreams,
        health,
        ChannelMetrics(app[METRICS].registry),
        RoutingPolicy(max_attempts=settings.max_attempts, timeouts=timeouts),
        switch.disable_soon,
    )
    stop = asyncio.Event()
    task = tasks.spawn(switch.run(stop), name="channel-prober")
    yield
    stop.set()
    await task


def _default_timeouts(settings: Settings) -> Timeouts:
    return Timeouts(
        connect=settings.upstream_connect_timeout,
        first_byte=settings.upstream_first_byte_timeout,
        idle=settings.upstream_idle_timeout,
    )


async def _metering(app: web.Application) -> AsyncIterator[None]:
    """Prices, holds (renewed while their requests run, expiring against billing's
    progress), and the usage publisher with its spool replayer."""
    settings = app[SETTINGS]
    await app[PRICES].reload()
    holds = Holds(app[REDIS], ttl_ms=settings.hold_ttl_ms)
    batch = CommandBatcher(app[REDIS])
    keeper = HoldKeeper(holds, batch, slot_ttl_ms=settings.slot_ttl_ms)
    progress = BillingProgress(app[REDIS])
    app[HOLD_GATE] = HoldGate(
        holds,
        batch,
        keeper,
        progress,
        app[INTERNAL_SESSION],
        settings.billing_url,
        settings.common.internal_token,
        settings.usage_url,
        settings.optimistic_hold_multiple,
    )
    spool = Spool(settings.spool_dir, f"gateway-{socket.gethostname()}-{os.getpid()}")
    spool.open()
    publisher = UsagePublisher(app[REDIS], holds, spool, app[PRICES], app[RELAY_METRICS], batch)
    app[USAGE_SINK] = publisher
    app[METRICS].before_scrape.append(batch.run_after_write_work)  # results not yet counted
    stop = asyncio.Event()
    replay = tasks.spawn(publisher.replay(stop), name="spool-replay")
    renew = tasks.spawn(keeper.run(stop), name="hold-renewal")
    follow = tasks.spawn(progress.run(stop), name="billing-progress")
    yield
    await publisher.drain()  # the server has stopped: no handler hands over more
    stop.set()
    await asyncio.gather(replay, renew, follow)
    await batch.aclose()


async def _invalidations(app: web.Application) -> AsyncIterator[None]:
    key_cache, channel_cache, prices = app[KEY_CACHE], app[CHANNEL_CACHE], app[PRICES]
    sessions, generations, jwks = app[SESSION_CACHE], app[USER_GENERATIONS], app[JWKS]

    async def on_live(live: bool) -> None:
        await key_cache.on_live(live)
        await generations.on_live(live)
        await sessions.on_live(live)
        await channel_cache.on_live(live)
        await prices.on_live(live)

    async def on_user_credentials_changed(notice: str) -> None:
        await generations.on_changed(notice)  # never raises: the sessions' drop still runs
        await sessions.on_user_credentials_changed(notice)
        # Suspension, group or limits: the user's keys are verified again.
        await key_cache.on_user_credentials_changed(notice)

    follower = invalidation.Follower(
        app[REDIS],
        {
            invalidation.KEY_REVOKED: key_cache.on_revoked,
            invalidation.CHANNELS_CHANGED: channel_cache.on_changed,
            invalidation.PRICES_CHANGED: prices.on_changed,
            invalidation.SESSION_REVOKED: sessions.on_session_revoked,
            invalidation.SIGNING_KEYS_CHANGED: jwks.on_keys_changed,
            # One handler per channel: whatever else must drop a user's cached
            # credentials joins this one.
            invalidation.USER_CREDENTIALS_CHANGED: on_user_credentials_changed,
            # A group's multiplier or limits changed: every key principal is stale.
            invalidation.GROUPS_CHANGED: key_cache.on_groups_changed,
        },
        on_live,
    )
    stop = asyncio.Event()
    task = tasks.spawn(follower.run(stop), name="invalidations")
    yield
    stop.set()
    await task
