"""The usage application. Usage records, aggregates and their queries arrive
with metering; today it serves health, readiness and metrics."""

from __future__ import annotations

from aiohttp import web

from services.usage.settings import Settings
from shared.service import base_app


def create_app(settings: Settings) -> web.Application:
    return base_app("usage", settings.common, internal=True)
