"""A refused request takes nothing (DESIGN 13): a request refused for its balance
leaves every limit as it was, and one refused by a limit leaves the balance,
the holds and the other limits as they were."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from shared.holds import held_amount, keys
from shared.limits import Kind
from tests.conftest import Stack
from tests.gateway.limited import CHAT, limited_key
from tests.relay import credit


async def _statuses(stack: Stack, headers: dict[str, str], count: int) -> list[int]:
    url = str(stack.gateway.make_url("/v1/chat/completions"))
    async with aiohttp.ClientSession() as http:

        async def one() -> int:
            async with http.post(url, json=CHAT, headers=headers) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_a_request_refused_for_its_balance_takes_no_limit(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    limited = await limited_key(
        stack,
        db,
        funds=Decimal("0.000001"),
        key_limits={"rpm": 2, "tpm": 100_000, "concurrency": 1},
    )
    assert await _statuses(stack, limited.headers, 5) == [402] * 5
    for kind in Kind:
        assert not await redis.exists(limited.redis_key(kind)), kind
    await credit(stack, limited.account.id, Decimal(10))
    # The credit went straight to billing's tables: the gateway fetches the new
    # balance when Redis has none (and the limited place script's retry then takes
    # the limits once, with the hold).
    await redis.delete(keys(limited.user_id)[0])
    assert sorted(await _statuses(stack, limited.headers, 1)) == [200]
    assert sorted(await _statuses(stack, limited.headers, 1)) == [200]  # the RPM's 2
    assert await _statuses(stack, limited.headers, 1) == [429]


async def test_a_request_refused_by_a_limit_takes_no_hold_and_no_other_limit(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    # The account's TPM is checked after the key's RPM: an RPM refusal must not take tokens.
    limited = await limited_key(stack, db, key_limits={"rpm": 1}, user_limits={"tpm": 100_000})
    assert await _statuses(stack, limited.headers, 1) == [200]
    await asyncio.sleep(0.1)
    tokens = await redis.get(limited.redis_key(Kind.TPM, of_key=False))
    balance = await redis.hget(keys(limited.user_id)[0], "bal")
    assert await _statuses(stack, limited.headers, 20) == [429] * 20
    assert await redis.get(limited.redis_key(Kind.TPM, of_key=False)) == tokens
    assert await redis.hget(keys(limited.user_id)[0], "bal") == balance
    assert await held_amount(redis, limited.user_id) <= Decimal("0.01")  # the one call's cost
    assert await redis.hlen(keys(limited.user_id)[1]) <= 1
