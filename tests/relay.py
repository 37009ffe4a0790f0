"""Test helpers for the relay: mock channels, a key, and the usage results logged."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import pytest
from aiohttp.test_utils import TestServer

from services.billing import credits
from services.cli import seed
from services.gateway.app_keys import CHANNEL_CACHE, CHANNEL_STORE, PRICES
from services.mockprovider.catalog import MODELS, Provider
from shared import db, invalidation, redis_conn
from shared.redis_batch import LINGER_SECONDS
from shared.settings import Common
from tests.accounts import Account, Client, create_key, sign_up
from tests.conftest import Stack


@dataclass(frozen=True, kw_only=True)
class Relay:
    stack: Stack
    account: Account
    key: str

    @property
    def base_url(self) -> str:
        return str(self.stack.gateway.make_url("")).rstrip("/")


class Relayable(Protocol):
    """What the helpers below need of a stack: a gateway, the mock, the settings."""

    @property
    def gateway(self) -> Client: ...

    @property
    def mock(self) -> TestServer: ...

    @property
    def common(self) -> Common: ...


async def add_mock_channels(stack: Relayable, base_url: str | None = None) -> None:
    app = stack.gateway.app
    assert app is not None
    url = base_url or str(stack.mock.make_url("")).rstrip("/")
    for provider in Provider:
        await app[CHANNEL_STORE].create(
            {
                "name": f"mock-{provider.value}",
                "kind": provider.value,
                "base_url": url,
                "api_key": f"upstream-secret-{provider.value}",
                "models": [m.name for m in MODELS if m.provider is provider],
                "allow_private_network": True,
            }
        )
    await app[CHANNEL_CACHE].reload()


async def add_prices(stack: Relayable) -> None:
    """Prices for the mock models, announced as the price admin API does."""
    common = stack.common
    async with db.pool(common.database_url, max_size=1) as pool:
        await seed.mock_prices(pool)
    async with redis_conn.client(common.redis_url) as redis:
        await invalidation.publish(redis, invalidation.PRICES_CHANGED, "mock models")
    app = stack.gateway.app
    assert app is not None
    await app[PRICES].reload()


async def credit(stack: Relayable, user_id: str, amount: Decimal) -> None:
    async with db.pool(stack.common.database_url, max_size=1) as pool, pool.acquire() as connection:
        await credits.grant(
            connection,
            credits.CreditRequest(
                user_id=uuid.UUID(user_id),
                amount=amount,
                reason="test credit",
                idempotency_key=f"test-{uuid.uuid4()}",
            ),
        )


async def relay_for(stack: Stack, *, funds: Decimal = Decimal(10), **key_fields: Any) -> Relay:
    """Mock channels with prices, and a funded account with a key."""
    await add_mock_channels(stack)
    await add_prices(stack)
    account = await sign_up(stack.gateway)
    if funds:
        await credit(stack, account.id, funds)
    key = await create_key(stack.gateway, account, **key_fields)
    return Relay(stack=stack, account=account, key=key["key"])


async def usage_results(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The usage result of every relayed request, as the gateway logged it.

    The gateway records a result after its answer is out, at its next Redis
    write or at most `LINGER_SECONDS` later (`CommandBatcher.after_write`):
    a timer due before this sleep ends, so it has run when the sleep returns.
    """
    await asyncio.sleep(2 * LINGER_SECONDS)
    return [
        record.usage  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "tollgate.relay" and record.getMessage() == "relayed"
    ]
