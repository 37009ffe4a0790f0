"""The usage service's routes, reached through the gateway as `/api/usage*`."""

from __future__ import annotations

from aiohttp import web

from services.usage import handlers


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/usage", handlers.list_records)
    router.add_get("/api/usage/summary", handlers.summary)
    router.add_get("/api/usage/totals", handlers.totals)
    router.add_get("/api/usage/export", handlers.export_records)
