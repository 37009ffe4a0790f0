"""Suspension refuses an account's keys on every gateway within a second (DESIGN 13).

Two real gateway processes (`python -m services.gateway`, an operator's
environment) share the test's PostgreSQL and Redis; each has the key's
principal cached from a first request. An admin suspends the account through
auth's `PATCH /api/admin/users/{id}` (on the in-process gateway, as an
operator would); auth publishes the credentials notice and each gateway drops
the account's keys, so the next request is verified again and refused with
403 `account_suspended` and the reason, in the client's own format. Lifting
the suspension gives the keys back as fast: a refusal is never cached.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from shared.holds import held_amount
from shared.stream_consumer import USAGE_STREAM
from tests.accounts import Account
from tests.conftest import Stack
from tests.gateway.gateway_processes import gateway_processes
from tests.relay import Relay, relay_for

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
MESSAGES = {
    "model": "claude-haiku-4-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Hi"}],
}
REASON = "chargeback under review"


async def _chat(http: aiohttp.ClientSession, url: str, key: str) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{url}/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        return response.status, await response.json()


async def _seconds_until(
    http: aiohttp.ClientSession, urls: list[str], key: str, status: int, since: float
) -> list[float]:
    """For each gateway, seconds from `since` until a chat request answers `status`."""

    async def one(url: str) -> float:
        while (await _chat(http, url, key))[0] != status:
            assert time.perf_counter() - since < 5, f"{url} never answered {status}"
            await asyncio.sleep(0.01)
        return time.perf_counter() - since

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def _suspend(stack: Stack, admin: Account, relay: Relay, reason: str | None) -> None:
    response = await stack.gateway.patch(
        f"/api/admin/users/{relay.account.id}",
        json={"suspended": None if reason is None else {"reason": reason}},
        headers=admin.headers,
    )
    assert response.status == 200, await response.text()


async def test_suspension_takes_effect_on_two_gateways_within_a_second(
    stack: Stack, admin: Account, tmp_path: Path
) -> None:
    relay = await relay_for(stack)
    async with gateway_processes(stack, tmp_path, 2) as gateways, aiohttp.ClientSession() as http:
        urls = [process.url for process in gateways]
        for url in urls:  # each caches the key's principal
            for _ in range(2):
                status, body = await _chat(http, url, relay.key)
                assert status == 200, body

        started = time.perf_counter()
        await _suspend(stack, admin, relay, REASON)
        refused = await _seconds_until(http, urls, relay.key, 403, started)
        assert max(refused) < 1.0, refused

        # The refusal, in each client's format, names the reason.
        status, body = await _chat(http, urls[0], relay.key)
        assert status == 403
        assert body["error"]["code"] == "account_suspended"
        assert body["error"]["type"] == "permission_error"
        assert REASON in body["error"]["message"]
        async with http.post(
            f"{urls[1]}/v1/messages",
            json=MESSAGES,
            headers={"x-api-key": relay.key, "anthropic-version": "2023-06-01"},
        ) as response:
            assert response.status == 403
            anthropic = await response.json()
        assert anthropic["type"] == "error" and anthropic["error"]["type"] == "permission_error"
        assert REASON in anthropic["error"]["message"]
        async with http.post(
            f"{urls[0]}/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
            headers={"x-goog-api-key": relay.key},
        ) as response:
            assert response.status == 403
            gemini = await response.json()
        assert gemini["error"]["status"] == "PERMISSION_DENIED"
        assert REASON in gemini["error"]["message"]

        started = time.perf_counter()
        await _suspend(stack, admin, relay, None)
        lifted = await _seconds_until(http, urls, relay.key, 200, started)
        assert max(lifted) < 1.0, lifted


async def test_a_suspended_accounts_refusals_take_nothing(
    stack: Stack, admin: Account, redis: Any
) -> None:
    """Refused before any hold or upstream call: no hold, no usage event."""
    relay = await relay_for(stack)
    await _suspend(stack, admin, relay, REASON)
    response = await stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {relay.key}"}
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "account_suspended"
    await asyncio.sleep(0.1)
    assert await redis.xlen(USAGE_STREAM) == 0
    assert await held_amount(redis, uuid.UUID(relay.account.id)) == 0
