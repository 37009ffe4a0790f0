"""The gateway application's typed state."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from services.gateway.key_cache import KeyCache
from services.gateway.settings import Settings
from services.gateway.tokens import Jwks

SETTINGS = web.AppKey("settings", Settings)
INTERNAL_SESSION = web.AppKey("internal_session", aiohttp.ClientSession)
JWKS = web.AppKey("jwks", Jwks)
KEY_CACHE = web.AppKey("key_cache", KeyCache)
