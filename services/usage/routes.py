"""The usage service's routes, reached through the gateway as `/api/usage*`
(and `/api/admin/usage`, admin role)."""

from __future__ import annotations

from aiohttp import web

from services.usage import handlers, key_spend


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/usage", handlers.list_records)
    router.add_get("/api/usage/summary", handlers.summary)
    router.add_get("/api/usage/totals", handlers.totals)
    router.add_get("/api/usage/export", handlers.export_records)
    router.add_get("/api/usage/keys/{key_id}/spend", key_spend.key_spend)
    router.add_get("/api/admin/usage", handlers.admin_records)
    router.add_get("/internal/keys/{key_id}/spend", key_spend.internal_key_spend)
