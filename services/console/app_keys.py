"""The console's typed application keys."""

from __future__ import annotations

from aiohttp import web

from services.console.settings import Settings

SETTINGS = web.AppKey("console_settings", Settings)
