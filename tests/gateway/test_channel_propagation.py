"""Two real gateway processes pick up a channel change within a second.

Both run as `python -m services.gateway` with an operator's environment,
sharing the test run's PostgreSQL and Redis; the change is made through the
admin API of a third gateway (the in-process one), as an operator would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.accounts import Account, create_key, sign_up
from tests.conftest import Stack
from tests.gateway.gateway_processes import gateway_processes
from tests.processes import ServiceProcess
from tests.relay import add_prices, credit

CHANNELS = "/api/admin/channels"


@pytest.fixture
async def gateways(stack: Stack, tmp_path: Path) -> AsyncIterator[list[ServiceProcess]]:
    async with gateway_processes(stack, tmp_path, 2) as started:
        yield started


async def _models(http: aiohttp.ClientSession, url: str, key: str) -> set[str]:
    async with http.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200, await r.text()
        return {model["id"] for model in (await r.json())["data"]}


async def _seconds_until_all(
    http: aiohttp.ClientSession, urls: list[str], key: str, model: str, *, listed: bool
) -> list[float]:
    """For each gateway, seconds until its model list shows (or stops showing) `model`."""
    started = time.perf_counter()

    async def one(url: str) -> float:
        while (model in await _models(http, url, key)) is not listed:
            assert time.perf_counter() - started < 5, f"{url}: {model} never changed"
            await asyncio.sleep(0.01)
        return time.perf_counter() - started

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def _channel(stack: Stack, admin: Account, models: list[str]) -> dict[str, Any]:
    body = {
        "name": f"shared-{models[0]}",
        "kind": "openai",
        "base_url": str(stack.mock.make_url("")),
        "api_key": "sk-upstream",
        "models": models,
        "allow_private_network": True,
    }
    response = await stack.gateway.post(CHANNELS, json=body, headers=admin.headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def test_two_gateway_processes_pick_up_changes_within_a_second(
    stack: Stack, admin: Account, gateways: list[ServiceProcess]
) -> None:
    user = await sign_up(stack.gateway)
    await add_prices(stack)
    await credit(stack, user.id, Decimal(10))
    key = (await create_key(stack.gateway, user))["key"]
    urls = [process.url for process in gateways]
    async with aiohttp.ClientSession() as http:
        # Once each process lists a first channel, its subscription is live
        # (it reloads on subscribing, then hears notices).
        await _channel(stack, admin, ["warm-up"])
        await _seconds_until_all(http, urls, key, "warm-up", listed=True)

        created = await _channel(stack, admin, ["gpt-4o-mini"])
        added = await _seconds_until_all(http, urls, key, "gpt-4o-mini", listed=True)
        assert max(added) < 1.0, added
        for url in urls:
            async with http.post(
                f"{url}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
                headers={"Authorization": f"Bearer {key}"},
            ) as response:
                assert response.status == 200, await response.text()

        disable = await stack.gateway.patch(
            f"{CHANNELS}/{created['id']}", json={"enabled": False}, headers=admin.headers
        )
        assert disable.status == 200
        removed = await _seconds_until_all(http, urls, key, "gpt-4o-mini", listed=False)
        assert max(removed) < 1.0, removed
