"""The gateway application's typed state."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from services.gateway.admission.key_cache import KeyCache
from services.gateway.admission.login_tokens import Jwks
from services.gateway.admission.session_cache import SessionCache
from services.gateway.admission.user_generations import UserGenerations
from services.gateway.channels.auto_disable import ChannelSwitch
from services.gateway.channels.cache import ChannelCache
from services.gateway.channels.store import ChannelStore
from services.gateway.metering.hold_gate import HoldGate
from services.gateway.metering.price_cache import PriceCache
from services.gateway.metering.usage_publisher import UsagePublisher
from services.gateway.relay.failover import Router, Upstreams
from services.gateway.relay.metrics import RelayMetrics
from services.gateway.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
INTERNAL_SESSION = web.AppKey("internal_session", aiohttp.ClientSession)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
JWKS = web.AppKey("jwks", Jwks)
KEY_CACHE = web.AppKey("key_cache", KeyCache)
USER_GENERATIONS = web.AppKey("user_generations", UserGenerations)
SESSION_CACHE = web.AppKey("session_cache", SessionCache)
CHANNEL_STORE = web.AppKey("channel_store", ChannelStore)
CHANNEL_CACHE = web.AppKey("channel_cache", ChannelCache)
CHANNEL_SWITCH = web.AppKey("channel_switch", ChannelSwitch)
ROUTER = web.AppKey("router", Router)
USAGE_SINK = web.AppKey("usage_sink", UsagePublisher)
PRICES = web.AppKey("prices", PriceCache)
RELAY_METRICS = web.AppKey("relay_metrics", RelayMetrics)
HOLD_GATE = web.AppKey("hold_gate", HoldGate)
