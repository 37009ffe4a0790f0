"""Several mock providers behind one gateway, each its own upstream.

Each provider is its own mock server, made to fail as a whole through its
`/mock/outage` control, so the gateway sees independent upstreams. The
`providers` fixture (in conftest) opens them with a channel each, prices, and
a funded key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from services.gateway.channels.choice import Channel
from services.mockprovider.keys import STATS
from tests.conftest import Stack

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
Providers = Callable[..., Awaitable["Routed"]]


@dataclass(frozen=True, kw_only=True)
class Routed:
    stack: Stack
    mocks: list[TestServer]
    channels: list[Channel]
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def calls(self, index: int) -> int:
        """Chat requests provider `index` has received."""
        return self.mocks[index].app[STATS].by_route["openai.chat"]

    async def chat(self, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        response = await self.stack.gateway.post(
            "/v1/chat/completions", json=body or CHAT, headers=self.headers
        )
        return response.status, await response.json()


async def outage(mock: TestServer, **fault: Any) -> None:
    """Make a whole provider misbehave; with no fault, end its outage."""
    url = mock.make_url("/mock/outage")
    async with aiohttp.ClientSession() as http:
        if fault:
            async with http.put(url, json=fault) as response:
                assert response.status == 200, await response.text()
        else:
            async with http.delete(url) as response:
                assert response.status == 204
