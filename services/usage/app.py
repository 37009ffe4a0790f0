"""The usage application: usage records, daily aggregates and their queries.

Its consumer (group `usage`) records every usage event from the stream
(`recording.record_batch`, idempotent by event id); the routes serve the
read side. Plus health, readiness and metrics. With `TOLLGATE_CONSUMER=false`
the process serves the read side only and leaves the stream to other replicas.
"""

from __future__ import annotations

from aiohttp import web

from services.usage.recording import record_batch
from services.usage.routes import setup_routes
from services.usage.settings import Settings
from shared.consuming import consuming
from shared.service import DB, base_app
from shared.stream_consumer import Handler
from shared.usage_event import UsageEvent


def create_app(settings: Settings) -> web.Application:
    app = base_app("usage", settings.common, internal=True)
    if settings.consumer:
        app.cleanup_ctx.append(consuming("usage", settings.common, _handler, trims=False))
    setup_routes(app)
    return app


def _handler(app: web.Application) -> Handler:
    async def handle(events: list[UsageEvent]) -> None:
        await record_batch(app[DB], events)

    return handle
