"""The billing application: balances today; holds, ledger and prices arrive
with metering."""

from __future__ import annotations

from aiohttp import web

from services.billing import handlers
from services.billing.settings import Settings
from shared.service import base_app


def create_app(settings: Settings) -> web.Application:
    app = base_app("billing", settings.common, internal=True)
    app.router.add_get("/internal/balances/{user_id}", handlers.internal_balance)
    return app
