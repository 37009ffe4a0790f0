"""Tokens per minute (DESIGN 13): the worst case reserved at admission, refused
before any upstream call, settled to the real count with the usage event."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from services.gateway.metering.estimate import tokens_for
from services.mockprovider.keys import STATS
from tests.conftest import Stack
from tests.gateway.limited import CHAT, LimitedKey, limited_key

TPM = 1000


async def _chat(
    http: aiohttp.ClientSession,
    stack: Stack,
    limited: LimitedKey,
    max_tokens: int,
    *,
    slow: bool = False,
) -> tuple[int, dict[str, str], dict[str, Any], int]:
    """Status, headers, body, and the tokens the request reserves at most."""
    body = orjson.dumps(CHAT | {"max_tokens": max_tokens})
    async with http.post(
        str(stack.gateway.make_url("/v1/chat/completions")),
        data=body,
        headers=limited.headers
        | {"Content-Type": "application/json"}
        | ({"X-Mock-Delay-Ms": "100"} if slow else {}),
    ) as response:
        answer = orjson.loads(await response.read())
        return response.status, dict(response.headers), answer, tokens_for(len(body)) + max_tokens


async def test_a_request_bigger_than_the_limit_is_refused_before_any_upstream_call(
    stack: Stack, db: Any
) -> None:
    limited = await limited_key(stack, db, key_limits={"tpm": TPM})
    calls = stack.mock.app[STATS].requests
    async with aiohttp.ClientSession() as http:
        status, headers, body, worst = await _chat(http, stack, limited, 2000)
    assert status == 429
    assert stack.mock.app[STATS].requests == calls
    message = body["error"]["message"]
    assert message.startswith(f"rate limit: {TPM} tokens per minute for this key")
    assert f"up to {worst} tokens" in message
    assert "Retry-After" not in headers  # waiting cannot help it
    assert headers["x-should-retry"] == "false"
    assert headers["x-ratelimit-limit-tokens"] == str(TPM)


async def test_tokens_are_reserved_at_admission_and_settled_to_the_real_count(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    limited = await limited_key(stack, db, key_limits={"tpm": TPM})
    calls = stack.mock.app[STATS].requests
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        status, headers, body, worst = await _chat(http, stack, limited, 300)
        assert status == 200, body
        assert int(headers["x-ratelimit-remaining-tokens"]) == TPM - worst
        used = body["usage"]["total_tokens"]
        assert used < worst
        await asyncio.sleep(0.1)  # its event is published, its reserve settled

        status, headers, body, second_worst = await _chat(http, stack, limited, 300)
        assert status == 200, body
        refilled = (time.monotonic() - started) * TPM / 60 + 1  # tokens per second
        remaining = int(headers["x-ratelimit-remaining-tokens"])
        assert TPM - used - second_worst <= remaining <= TPM - used - second_worst + refilled
        left = remaining + second_worst - body["usage"]["total_tokens"]
        await asyncio.sleep(0.1)

        # At once, before any settles: worst cases until the minute's tokens are taken.
        answers = await asyncio.gather(
            *(_chat(http, stack, limited, 300, slow=True) for _ in range(6))
        )
    admitted = 2 + sum(1 for answer in answers if answer[0] == 200)
    # What the second left once settled, and what refilled since, and no more.
    refilled = (time.monotonic() - started) * TPM / 60 + 1
    assert left // second_worst <= admitted - 2 <= (left + refilled) // second_worst
    status, headers, body, _ = next(answer for answer in answers if answer[0] == 429)
    assert body["error"]["message"] == f"rate limit: {TPM} tokens per minute for this key"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["x-ratelimit-remaining-tokens"] == "0"
    assert stack.mock.app[STATS].requests - calls == admitted  # the refused one never went


async def test_the_accounts_own_limit_applies_to_all_its_keys(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db, user_limits={"tpm": TPM})
    async with aiohttp.ClientSession() as http:
        status, _, body, worst = await _chat(http, stack, limited, 2000)
    assert status == 429
    assert body["error"]["message"].startswith(
        f"rate limit: {TPM} tokens per minute for this account"
    )
    assert f"up to {worst} tokens" in body["error"]["message"]
