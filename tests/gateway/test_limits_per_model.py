"""A key's per-model limits (DESIGN 13) through a real gateway process: they
count only the requests for their model, on top of the key's own, and the
429 names the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from shared.limits import Kind, model_key_for
from tests.conftest import Stack
from tests.gateway.gateway_processes import gateway_processes
from tests.gateway.limited import CHAT, limited_key, set_key_limits


async def _chat(http: aiohttp.ClientSession, url: str, headers: dict[str, str], model: str) -> Any:
    async with http.post(
        f"{url}/v1/chat/completions", json=CHAT | {"model": model}, headers=headers
    ) as response:
        return response.status, response.headers, await response.read()


async def test_a_per_model_rpm_of_2_refuses_the_third_call_for_that_model_only(
    stack: Stack, db: Any, redis: aioredis.Redis, tmp_path: Path
) -> None:
    limited = await limited_key(stack, db)
    await set_key_limits(
        stack,
        limited.account,
        limited.key_id,
        {"rpm": 100, "models": {"gpt-4o-mini": {"rpm": 2}}},  # type: ignore[dict-item]
    )
    async with (
        gateway_processes(stack, tmp_path, 1) as (gateway,),
        aiohttp.ClientSession() as http,
    ):
        first = [await _chat(http, gateway.url, limited.headers, "gpt-4o-mini") for _ in range(3)]
        other = [await _chat(http, gateway.url, limited.headers, "gpt-4o") for _ in range(3)]
    assert [status for status, _, _ in first] == [200, 200, 429]
    status, headers, body = first[2]
    error = orjson.loads(body)["error"]
    assert error["message"] == (
        "rate limit: 2 requests per minute for this key and the model gpt-4o-mini"
    )
    assert error["code"] == "rate_limit_exceeded"
    assert 1 <= int(headers["Retry-After"]) <= 30
    # Another model still passes; the key's own limit counted every admitted call.
    assert [status for status, _, _ in other] == [200, 200, 200]
    assert other[0][1]["x-ratelimit-remaining-requests"] == "97"
    mini = model_key_for(limited.user_id, limited.key_id, "gpt-4o-mini", Kind.RPM)
    assert await redis.exists(mini)
    assert not await redis.exists(
        model_key_for(limited.user_id, limited.key_id, "gpt-4o", Kind.RPM)
    )
