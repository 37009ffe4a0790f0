"""The mock provider application: `create_app(settings)`.

Middlewares, outermost first: count the request by route name (never its body),
then render `MockError`s and aiohttp's HTTP errors in the client's format.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from services.mockprovider.errors import error_middleware
from services.mockprovider.fixtures import FixtureStore
from services.mockprovider.keys import FIXTURES, SETTINGS, STATS
from services.mockprovider.outage import OUTAGE, Outage
from services.mockprovider.routes import setup_routes
from services.mockprovider.settings import Settings
from services.mockprovider.stats import Stats

MAX_BODY_BYTES = 32 * 1024 * 1024


@web.middleware
async def count_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.name or "unmatched"
    if not route.startswith("mock.") and route != "healthz":
        request.app[STATS].request_seen(route)
    return await handler(request)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[count_middleware, error_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    app[STATS] = Stats()
    app[FIXTURES] = FixtureStore(settings.fixtures_dir)
    app[OUTAGE] = Outage()
    setup_routes(app)
    return app
