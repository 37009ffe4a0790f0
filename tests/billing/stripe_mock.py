"""Billing with Stripe enabled against the mock payment provider
(services/mockpayments) over real HTTP, its webhooks coming back through the
stack's public gateway; and the test's handle on the mock's control API."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestServer

from services.mockpayments.app import create_app as create_mock
from services.mockpayments.settings import DEV_STRIPE_SECRET_KEY, DEV_STRIPE_WEBHOOK_SECRET
from services.mockpayments.settings import Settings as MockSettings
from shared.settings import Common
from tests.billing.payments_stack import WEBHOOKS, PaymentsStack, payments_stack
from tests.conftest import AiohttpClient, AiohttpServer, Stack


class Mock:
    def __init__(self, server: TestServer, paying: PaymentsStack) -> None:
        self.server = server
        self.paying = paying

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.paying.gateway.session.post(
            self.server.make_url(path), json=body or {}
        ) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def deliveries(self) -> Any:
        async with self.paying.gateway.session.get(
            self.server.make_url("/_mock/stripe/webhooks")
        ) as response:
            return await response.json()


async def stripe_with_mock(
    stack: Stack,
    common: Common,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    *,
    retry_delays: tuple[float, ...],
) -> tuple[PaymentsStack, Mock]:
    """Billing with Stripe at the mock; the mock's webhooks to the stack's gateway."""
    server = await aiohttp_server(create_mock(MockSettings(retry_delays=retry_delays)))
    paying = await payments_stack(
        stack,
        common,
        aiohttp_server,
        aiohttp_client,
        api_base=str(server.make_url("/stripe")),
        webhook_secret=DEV_STRIPE_WEBHOOK_SECRET,
        secret_key=DEV_STRIPE_SECRET_KEY,
    )
    mock = Mock(server, paying)
    await mock.control(
        "/_mock/stripe/webhooks/config",
        {"url": str(paying.gateway.make_url(WEBHOOKS)), "secret": DEV_STRIPE_WEBHOOK_SECRET},
    )
    return paying, mock


async def balance_of(db: Any, user_id: str) -> Decimal:
    found = await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", uuid.UUID(user_id)
    )
    return Decimal(0) if found is None else Decimal(found)
