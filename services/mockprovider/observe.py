"""The mock's own endpoints: `/healthz`, and `/mock/stats` for tests.

`GET /mock/stats` returns counts and timestamps (see `stats`); `DELETE` clears
them. No credential: the mock binds to loopback and holds nothing secret.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from services.mockprovider.keys import STATS


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": "mockprovider"})


async def get_stats(request: web.Request) -> web.Response:
    snapshot = request.app[STATS].snapshot()
    return web.json_response(snapshot, dumps=lambda value: orjson.dumps(value).decode())


async def clear_stats(request: web.Request) -> web.Response:
    request.app[STATS].clear()
    return web.Response(status=204)
