"""Fixtures for the mock payment provider's tests: a webhook receiver, the
mock in-process posting to it (fast retries), and a plain HTTP client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.mockpayments.app import create_app
from services.mockpayments.settings import DEV_STRIPE_SECRET_KEY, Endpoint, Settings
from tests.conftest import AiohttpClient, AiohttpServer
from tests.mockpayments.receiver import Receiver

Client = TestClient[web.Request, web.Application]
STRIPE_SECRET = "whsec_test_secret"
CREEM_SECRET = "creem_test_webhook_secret"


@pytest.fixture
async def receiver(aiohttp_server: AiohttpServer) -> tuple[Receiver, TestServer]:
    hooks = Receiver()
    return hooks, await aiohttp_server(hooks.app())


@pytest.fixture
async def mock(aiohttp_client: AiohttpClient, receiver: tuple[Receiver, TestServer]) -> Client:
    _, server = receiver
    hook = str(server.make_url("/hook"))
    settings = Settings(
        stripe_webhook=Endpoint(url=hook, secret=STRIPE_SECRET),
        creem_webhook=Endpoint(url=hook, secret=CREEM_SECRET),
        retry_delays=(0.05, 0.1),
    )
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client, as a person's browser posting the hosted page's form."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def client(mock: Client) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.AIOHTTPClient()
    yield stripe.StripeClient(
        DEV_STRIPE_SECRET_KEY,
        http_client=http,
        base_addresses={"api": str(mock.make_url("/stripe"))},
        max_network_retries=0,
    )
    await http.close_async()  # type: ignore[no-untyped-call]


def session_params(**overrides: Any) -> Any:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 1000,
                    "product_data": {"name": "Tollgate credit 10.00 USD"},
                },
                "quantity": 1,
            }
        ],
        "client_reference_id": "order-1",
        "metadata": {"order_id": "order-1"},
        "success_url": "http://127.0.0.1:9/billing/topup/result?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:9/billing/topup/result?cancelled=1",
        "expires_at": int(time.time()) + 3600,
    }
    params.update(overrides)
    return params
