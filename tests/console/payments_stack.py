"""`payments_console_stack`: the console stack with top-ups on, paying at the
mock payment provider (services/mockpayments) over real HTTP.

The gateway's port is chosen first, so that its URL (the public one) is known
to billing (the return URLs it gives providers: the console's result page)
and to the mock (where it posts its signed webhooks, through the public
gateway, as Stripe and Creem do). Billing here has Stripe and Creem enabled
with the mock's dev keys and secrets; the gateway sends `/api/billing/*` to
it (the stack's own billing keeps consuming usage; this one does not). The
console knows the mock's URL, so it may send browsers to its (plain http)
checkout pages. The mock retries a webhook that got no 2xx after 0.2 s and
0.5 s.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.billing.app import create_app as create_billing
from services.billing.payments.payment_settings import PaymentSettings
from services.billing.settings import Settings as BillingSettings
from services.mockpayments import settings as mockpayments
from services.mockpayments.app import create_app as create_mock
from services.mockpayments.settings import Endpoint
from shared.settings import Common
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack, start_console_stack
from tests.ports import free_ports

PRESETS = "5,10,20,50,100"


@dataclass(frozen=True, kw_only=True)
class PaymentsConsoleStack:
    console: ConsoleStack
    mock: TestServer
    billing: TestServer

    @property
    def mock_url(self) -> str:
        return str(self.mock.make_url("")).rstrip("/")

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call to the mock's control API (`/_mock/...`)."""
        async with aiohttp.ClientSession() as session:
            async with session.post(self.mock.make_url(path), json=body or {}) as response:
                assert response.status == 200, await response.text()
                return await response.json()

    async def deliveries(self, provider: str = "stripe") -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.get(self.mock.make_url(f"/_mock/{provider}/webhooks")) as answer:
                found: list[dict[str, Any]] = (await answer.json())["deliveries"]
                return found

    async def settled(self, count: int, provider: str = "stripe") -> list[dict[str, Any]]:
        """The deliveries once `count` of them are no longer pending (at most 10 s)."""
        items: list[dict[str, Any]] = []
        for _ in range(200):
            items = await self.deliveries(provider)
            if len([d for d in items if d.get("status") not in ("pending", "held")]) >= count:
                return items
            await asyncio.sleep(0.05)
        raise AssertionError(f"webhooks not delivered: {items}")


def _payments(mock_url: str, public_url: str) -> PaymentSettings:
    products, _ = mockpayments.dev_creem_products(PRESETS, "USD")
    settings = PaymentSettings.from_env(
        {
            "PAYMENT_PROVIDERS": "stripe,creem",
            "TOPUP_PRESETS": PRESETS,
            "TOLLGATE_PUBLIC_URL": public_url,
            "STRIPE_SECRET_KEY": mockpayments.DEV_STRIPE_SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": mockpayments.DEV_STRIPE_WEBHOOK_SECRET,
            "STRIPE_API_BASE": f"{mock_url}/stripe",
            "CREEM_API_KEY": mockpayments.DEV_CREEM_API_KEY,
            "CREEM_WEBHOOK_SECRET": mockpayments.DEV_CREEM_WEBHOOK_SECRET,
            "CREEM_API_BASE": f"{mock_url}/creem",
            "CREEM_PRODUCTS": products,
        }
    )
    return settings


async def start_payments_console_stack(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer
) -> PaymentsConsoleStack:
    (gateway_port,) = free_ports(1)
    public = f"http://127.0.0.1:{gateway_port}"
    mock = await aiohttp_server(
        create_mock(
            mockpayments.Settings(
                stripe_webhook=Endpoint(
                    url=f"{public}/api/billing/webhooks/stripe",
                    secret=mockpayments.DEV_STRIPE_WEBHOOK_SECRET,
                ),
                creem_webhook=Endpoint(
                    url=f"{public}/api/billing/webhooks/creem",
                    secret=mockpayments.DEV_CREEM_WEBHOOK_SECRET,
                ),
                retry_delays=(0.2, 0.5),
            )
        )
    )
    mock_url = str(mock.make_url("")).rstrip("/")
    billing = await aiohttp_server(
        create_billing(
            BillingSettings(
                common=common,
                consumer=False,
                auth_url=str(stack.auth.make_url("")).rstrip("/"),
                payments=_payments(mock_url, public),
            )
        )
    )
    paying = replace(
        stack,
        gateway_settings=replace(
            stack.gateway_settings, billing_url=str(billing.make_url("")).rstrip("/")
        ),
    )
    console = await start_console_stack(
        paying,
        aiohttp_server,
        gateway_port=gateway_port,
        console_changes={"mock_payments_url": mock_url},
    )
    return PaymentsConsoleStack(console=console, mock=mock, billing=billing)


@pytest.fixture
async def payments_console_stack(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer
) -> PaymentsConsoleStack:
    return await start_payments_console_stack(stack, common, aiohttp_server)


async def balance_of(db: Any, user_id: str) -> Decimal:
    found = await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", uuid.UUID(user_id)
    )
    return Decimal(0) if found is None else Decimal(found)


async def top_ups_of(db: Any, user_id: str) -> int:
    """How many top-up credits the user's ledger holds."""
    found: int = await db.fetchval(
        """
        SELECT count(*) FROM billing.ledger_entries e
        JOIN billing.ledger_transactions t ON t.id = e.transaction_id
        JOIN billing.accounts a ON a.id = e.account_id
        WHERE a.user_id = $1 AND t.kind = 'top_up'
        """,
        uuid.UUID(user_id),
    )
    return found
