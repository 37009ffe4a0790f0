"""The gateway application's typed state."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from services.gateway.channel_cache import ChannelCache
from services.gateway.channel_store import ChannelStore
from services.gateway.channel_switch import ChannelSwitch
from services.gateway.failover import Router, Upstreams
from services.gateway.hold_gate import HoldGate
from services.gateway.key_cache import KeyCache
from services.gateway.price_cache import PriceCache
from services.gateway.relay_metrics import RelayMetrics
from services.gateway.session_cache import SessionCache
from services.gateway.settings import Settings
from services.gateway.tokens import Jwks
from services.gateway.usage_publisher import UsagePublisher
from services.gateway.user_generations import UserGenerations

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
