"""A key's new limits apply at its next request on every gateway (within a second:
the key's notice drops its cached principal), and a limit removed costs
nothing again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.conftest import Stack
from tests.gateway.limited import CHAT, LimitedKey, limited_key, set_key_limits


async def _headers(http: aiohttp.ClientSession, stack: Stack, limited: LimitedKey) -> Any:
    url = str(stack.gateway.make_url("/v1/chat/completions"))
    async with http.post(url, json=CHAT, headers=limited.headers) as response:
        await response.read()
        return response.status, response.headers.copy()


async def test_a_limit_set_on_a_cached_key_applies_within_a_second(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db)
    async with aiohttp.ClientSession() as http:
        status, headers = await _headers(http, stack, limited)  # the key is cached now
        assert status == 200 and "x-ratelimit-limit-requests" not in headers

        await set_key_limits(stack, limited.account, limited.key_id, {"rpm": 3})
        changed = time.monotonic()
        while "x-ratelimit-limit-requests" not in headers:
            assert time.monotonic() - changed < 1.0, "the new limit never applied"
            await asyncio.sleep(0.02)
            status, headers = await _headers(http, stack, limited)
        assert headers["x-ratelimit-limit-requests"] == "3"
        while status == 200:
            status, headers = await _headers(http, stack, limited)
        assert status == 429

        await set_key_limits(stack, limited.account, limited.key_id, {"rpm": None})
        changed = time.monotonic()
        while status == 429:
            assert time.monotonic() - changed < 1.0, "the removed limit still applied"
            await asyncio.sleep(0.02)
            status, headers = await _headers(http, stack, limited)
        assert status == 200 and "x-ratelimit-limit-requests" not in headers
