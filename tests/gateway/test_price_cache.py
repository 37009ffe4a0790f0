"""The gateway's price table when billing comes up after the gateway: a request
that misses a price reloads at once until a load has succeeded, and requests
that miss together share one reload."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from services.gateway.metering.price_cache import PriceCache
from tests.conftest import AiohttpServer

ROW = {
    "model": "gpt-4o-mini",
    "effective_from": "2026-01-01T00:00:00+00:00",
    "input": "0.15",
    "output": "0.60",
    "cache_read": "0",
    "cache_write": "0",
}


async def test_a_miss_reloads_at_once_until_billing_has_answered(
    aiohttp_server: AiohttpServer,
) -> None:
    up = False
    asked = 0

    async def prices(_: web.Request) -> web.Response:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0.05)
        if not up:
            return web.json_response({"error": "starting"}, status=503)
        return web.json_response({"prices": [ROW]})

    app = web.Application()
    app.router.add_get("/internal/prices", prices)
    billing = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        cache = PriceCache(session, str(billing.make_url("")).rstrip("/"), "token")
        await cache.reload()  # at the gateway's start: billing is not up yet
        assert asked == 1
        up = True
        found: list[Any] = await asyncio.gather(*(cache.current("gpt-4o-mini") for _ in range(10)))
        assert all(price is not None for price in found)  # within seconds of the failed load
        assert asked == 2  # ten misses, one reload
        assert await cache.current("no-such-model") is None
        assert asked == 2  # loaded once, a miss waits for the usual interval
