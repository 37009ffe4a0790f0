"""Top-up test stack: the test stack's auth and usage, a billing with Stripe
enabled, a gateway in front of it, and a stand-in for Stripe's API over real
HTTP (the official `stripe` package talks to it through STRIPE_API_BASE).

The stand-in speaks the part of Stripe's wire format billing uses: form-encoded
`POST /v1/checkout/sessions` (one session per Idempotency-Key, as Stripe
replays a key's first answer) and `GET /v1/checkout/sessions/{id}`. It records
each create call's form and key, and can be told to fail with 500.

Webhooks are signed here by Stripe's documented scheme (`stripe_provider.sign`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.billing.app import create_app as create_billing
from services.billing.payments.payment_settings import PaymentSettings, StripeSettings
from services.billing.payments.setup import CLOCK, Clock
from services.billing.payments.stripe_provider import sign
from services.billing.settings import Settings as BillingSettings
from services.gateway.app import create_app as create_gateway
from shared.settings import Common
from tests.accounts import Account, sign_up
from tests.conftest import AiohttpClient, AiohttpServer, Stack, gateway_settings_for

WEBHOOK_SECRET = "whsec_test_" + "k" * 32
WEBHOOKS = "/api/billing/webhooks/stripe"


@dataclass
class StripeStub:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str | None, dict[str, str]]] = field(default_factory=list)
    failing: bool = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self.create)
        app.router.add_get("/v1/checkout/sessions/{id}", self.retrieve)
        return app

    async def create(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        key = request.headers.get("Idempotency-Key")
        self.calls.append((key, form))
        if self.failing:
            return web.json_response(
                {"error": {"type": "api_error", "message": "down"}}, status=500
            )
        if key in self.by_key:
            return web.json_response(self.sessions[self.by_key[key]])
        session_id = "cs_test_" + uuid.uuid4().hex
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "expires_at": int(form.get("expires_at", int(time.time()) + 3600)),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": {"order_id": form.get("metadata[order_id]")},
            "payment_intent": None,
        }
        self.sessions[session_id] = session
        if key:
            self.by_key[key] = session_id
        return web.json_response(session)

    async def retrieve(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.json_response({"error": {"type": "invalid_request_error"}}, status=404)
        return web.json_response(session)


def session_event(
    order_id: str | uuid.UUID | None,
    *,
    event_type: str = "checkout.session.completed",
    event_id: str | None = None,
    session_id: str | None = None,
    amount_minor: int = 1050,
    currency: str = "usd",
    payment_status: str = "paid",
    payment_intent: str | None = "",
) -> dict[str, Any]:
    """A Stripe event whose object is a Checkout Session (Stripe's documented shape)."""
    return {
        "id": event_id or "evt_" + uuid.uuid4().hex,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": session_id or "cs_test_" + uuid.uuid4().hex,
                "object": "checkout.session",
                "mode": "payment",
                "amount_total": amount_minor,
                "currency": currency,
                "client_reference_id": None if order_id is None else str(order_id),
                "metadata": {} if order_id is None else {"order_id": str(order_id)},
                "payment_status": payment_status,
                "payment_intent": "pi_" + uuid.uuid4().hex
                if payment_intent == ""
                else payment_intent,
                "status": "complete",
            }
        },
    }


def signed(
    event: dict[str, Any], *, at: float | None = None, secret: str = WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(event)
    header = sign(body, secret, int(time.time() if at is None else at))
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


@dataclass(frozen=True, kw_only=True)
class PaymentsStack:
    stack: Stack
    gateway: TestClient[web.Request, web.Application]
    billing: TestServer
    stub: StripeStub
    stub_server: TestServer

    @property
    def clock(self) -> Clock:
        return self.billing.app[CLOCK]

    async def user(self) -> Account:
        return await sign_up(self.stack.gateway)

    async def topup(self, account: Account, amount: str = "10.50", **extra: Any) -> Any:
        response = await self.gateway.post(
            "/api/billing/topups",
            json={"amount": amount, "provider": "stripe", **extra},
            headers={"Authorization": f"Bearer {account.token}"},
        )
        return response

    async def webhook(self, body: bytes, headers: dict[str, str]) -> Any:
        """Through the public gateway, with no credential, as Stripe sends it."""
        response = await self.gateway.post(WEBHOOKS, data=body, headers=headers)
        await response.read()
        return response


def payment_settings(
    api_base: str,
    *,
    webhook_secret: str | None = WEBHOOK_SECRET,
    secret_key: str = "sk_test_tollgate",
) -> PaymentSettings:
    return PaymentSettings(
        providers=("stripe",),
        stripe=StripeSettings(
            secret_key=secret_key, webhook_secret=webhook_secret, api_base=api_base
        ),
    )


async def payments_stack(
    stack: Stack,
    common: Common,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    *,
    api_base: str | None = None,
    webhook_secret: str | None = WEBHOOK_SECRET,
    secret_key: str = "sk_test_tollgate",
) -> PaymentsStack:
    stub = StripeStub()
    stub_server = await aiohttp_server(stub.app())
    base = api_base or str(stub_server.make_url("")).rstrip("/")
    auth_url = str(stack.auth.make_url("")).rstrip("/")
    billing = await aiohttp_server(
        create_billing(
            BillingSettings(
                common=common,
                consumer=False,
                auth_url=auth_url,
                payments=payment_settings(
                    base, webhook_secret=webhook_secret, secret_key=secret_key
                ),
            )
        )
    )
    gateway = await aiohttp_client(
        create_gateway(
            gateway_settings_for(
                common,
                auth_url=auth_url,
                billing_url=str(billing.make_url("")).rstrip("/"),
                usage_url=str(stack.usage.make_url("")).rstrip("/"),
            )
        )
    )
    return PaymentsStack(
        stack=stack, gateway=gateway, billing=billing, stub=stub, stub_server=stub_server
    )


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> PaymentsStack:
    return await payments_stack(stack, common, aiohttp_server, aiohttp_client)
