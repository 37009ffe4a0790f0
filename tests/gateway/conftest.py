"""Fixtures for the gateway's tests: an operator with the admin role, and
several mock providers with a channel each."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.gateway.app_keys import CHANNEL_CACHE, CHANNEL_STORE
from services.gateway.channels.choice import Channel
from services.mockprovider.app import create_app as create_mock
from services.mockprovider.settings import Settings as MockSettings
from tests.accounts import Account, create_key, log_in, sign_up
from tests.conftest import AiohttpServer, Stack
from tests.gateway.providers import Providers, Routed
from tests.relay import add_prices, credit


@pytest.fixture
async def admin(stack: Stack, db: Any) -> Account:
    account = await sign_up(stack.gateway)
    await db.execute("UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(account.id))
    # The role is a claim of the login token: only a fresh login carries it.
    return replace(account, token=await log_in(stack.gateway, account.username))


@pytest.fixture
async def providers(stack: Stack, aiohttp_server: AiohttpServer) -> Providers:
    """`await providers(n, **channel fields for all, per=[fields per channel])`."""

    async def open_(
        count: int, *, per: list[dict[str, Any]] | None = None, **common: Any
    ) -> Routed:
        app = stack.gateway.app
        assert app is not None
        mocks: list[TestServer] = []
        channels: list[Channel] = []
        for index in range(count):
            mock = await aiohttp_server(create_mock(MockSettings()))
            mocks.append(mock)
            fields = {
                "name": f"provider-{index}-{uuid.uuid4().hex[:6]}",
                "kind": "openai",
                "base_url": str(mock.make_url("")).rstrip("/"),
                "api_key": f"upstream-key-{index}",
                "models": ["gpt-4o-mini"],
                "allow_private_network": True,
                **common,
                **((per or [{}] * count)[index]),
            }
            channels.append(await app[CHANNEL_STORE].create(fields))
        await app[CHANNEL_CACHE].reload()
        await add_prices(stack)
        account = await sign_up(stack.gateway)
        await credit(stack, account.id, Decimal(100))
        key = await create_key(stack.gateway, account)
        return Routed(stack=stack, mocks=mocks, channels=channels, key=key["key"])

    return open_
