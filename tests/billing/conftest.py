"""Billing test fixtures: a pool on the run's database, and ways to act as
an admin or a user, through the gateway or straight at billing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from services.billing import price_store
from services.billing.app import create_app
from services.billing.credits import CreditRequest, grant
from services.billing.pricing import Price
from services.billing.settings import Settings
from shared import db as shared_db
from shared.internal import ROLE_HEADER, TOKEN_HEADER, USER_HEADER
from shared.settings import Common
from tests.accounts import Account, log_in, sign_up
from tests.conftest import INTERNAL_TOKEN, AiohttpClient, Stack

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
async def pool(db: Any, database_url: str) -> AsyncIterator[Any]:
    """An asyncpg pool with the services' codecs; tables are emptied after (by `db`)."""
    async with shared_db.pool(database_url, max_size=8) as created:
        yield created


async def make_admin(stack: Stack, db: Any) -> Account:
    """A signed-up user given the admin role, logged in again so the token says so."""
    account = await sign_up(stack.gateway)
    await db.execute("UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(account.id))
    token = await log_in(stack.gateway, account.username)
    return Account(id=account.id, email=account.email, username=account.username, token=token)


@dataclass(frozen=True)
class Billing:
    """The billing service alone, called as the gateway forwards calls: with
    the internal token and the caller's id and role in headers."""

    client: TestClient[web.Request, web.Application]
    admin_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def headers(self, user_id: uuid.UUID | None, role: str) -> dict[str, str]:
        headers = {TOKEN_HEADER: INTERNAL_TOKEN}
        if user_id is not None:
            headers[USER_HEADER] = str(user_id)
            headers[ROLE_HEADER] = role
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        user_id: uuid.UUID | None = None,
        role: str = "user",
        **kwargs: Any,
    ) -> ClientResponse:
        response = await self.client.request(
            method, path, headers=self.headers(user_id, role), **kwargs
        )
        await response.read()
        return response

    async def as_admin(self, method: str, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request(method, path, user_id=self.admin_id, role="admin", **kwargs)


@pytest.fixture
async def billing(
    common: Common, db: Any, redis: aioredis.Redis, aiohttp_client: AiohttpClient
) -> Billing:
    return Billing(await aiohttp_client(create_app(Settings(common=common))))


def price(model: str = "m", effective_from: datetime = EPOCH, **rates: str) -> Price:
    values = {"input": "1", "output": "2", "cache_read": "0.1", "cache_write": "1.25"}
    values.update(rates)
    return Price(
        model=model,
        effective_from=effective_from,
        input=Decimal(values["input"]),
        output=Decimal(values["output"]),
        cache_read=Decimal(values["cache_read"]),
        cache_write=Decimal(values["cache_write"]),
        web_search=Decimal(values.get("web_search", "0")),
    )


async def add_price(connection: Any, version: Price) -> None:
    await price_store.add_version(
        connection,
        model=version.model,
        effective_from=version.effective_from,
        rates={
            "input": version.input,
            "output": version.output,
            "cache_read": version.cache_read,
            "cache_write": version.cache_write,
            "web_search": version.web_search,
        },
        max_output_tokens=version.max_output_tokens,
        created_by=None,
    )


def usage_event(
    event_id: str | None = None,
    *,
    user_id: uuid.UUID,
    model: str = "m",
    ts: datetime | None = None,
    price_multiplier: str = "1",
    **counts: int,
) -> dict[str, Any]:
    """A usage event as the gateway publishes it (docs/usage-event.md, version 2)."""
    return {
        "v": 2,
        "event_id": event_id or uuid.uuid4().hex,
        "ts": (ts or datetime.now(UTC)).isoformat(),
        "user_id": str(user_id),
        "key_id": str(uuid.uuid4()),
        "channel_id": None,
        "endpoint": "openai_chat",
        "requested_model": model,
        "upstream_model": model,
        "stream": False,
        "status": "ok",
        "http_status": 200,
        "error_code": None,
        "input_tokens": counts.get("input_tokens", 0),
        "output_tokens": counts.get("output_tokens", 0),
        "cache_read_tokens": counts.get("cache_read_tokens", 0),
        "cache_write_tokens": counts.get("cache_write_tokens", 0),
        "reasoning_tokens": 0,
        "web_search_requests": counts.get("web_search_requests", 0),
        "usage_source": "upstream",
        "ttfb_ms": 12.5,
        "latency_ms": 40.0,
        "client_ip": "127.0.0.1",
        "user_agent": "test",
        "hold_id": f"hold-{uuid.uuid4().hex[:8]}",
        "hold_amount": "1.00",
        "price_multiplier": price_multiplier,
    }


async def fund(pool: Any, user_id: uuid.UUID, amount: str) -> dict[str, Any]:
    """Credit a user as an admin would (a fresh idempotency key)."""
    async with pool.acquire() as connection:
        return await grant(
            connection,
            CreditRequest(
                user_id=user_id,
                amount=Decimal(amount),
                reason="test funds",
                idempotency_key=uuid.uuid4().hex,
            ),
        )
