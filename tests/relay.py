"""Test helpers for the relay: mock channels, a key, and the usage results logged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from services.gateway.keys import CHANNEL_CACHE, CHANNEL_STORE
from services.mockprovider.catalog import MODELS, Provider
from tests.accounts import Account, create_key, sign_up
from tests.conftest import Stack


@dataclass(frozen=True, kw_only=True)
class Relay:
    stack: Stack
    account: Account
    key: str

    @property
    def base_url(self) -> str:
        return str(self.stack.gateway.make_url("")).rstrip("/")


async def add_mock_channels(stack: Stack, base_url: str | None = None) -> None:
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
            }
        )
    await app[CHANNEL_CACHE].reload()


async def relay_for(stack: Stack, **key_fields: Any) -> Relay:
    await add_mock_channels(stack)
    account = await sign_up(stack.gateway)
    key = await create_key(stack.gateway, account, **key_fields)
    return Relay(stack=stack, account=account, key=key["key"])


def usage_results(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The usage result of every relayed request, as the gateway logged it."""
    return [
        record.usage  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "tollgate.relay" and record.getMessage() == "relayed"
    ]
