"""The mock provider application's typed state."""

from __future__ import annotations

from aiohttp import web

from services.mockprovider.fixtures import FixtureStore
from services.mockprovider.settings import Settings
from services.mockprovider.stats import Stats

SETTINGS = web.AppKey("settings", Settings)
STATS = web.AppKey("stats", Stats)
FIXTURES = web.AppKey("fixtures", FixtureStore)
