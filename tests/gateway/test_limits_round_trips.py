"""Limits cost no extra Redis round trip (DESIGN 13), measured with MONITOR.

What the gateway's command batcher sends for one relayed request, once its
key is cached and its balance snapshot is in Redis: with no limit set, the
hold's own place script (3 keys, 4 arguments), the event's XADD and the
hold's shrink, exactly as before limits existed; with limits, the same three
commands, the place and shrink replaced by their limited scripts.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from shared import limits, tasks
from shared.holds import _PLACE, _SHRINK
from shared.redis_batch import LINGER_SECONDS
from tests.conftest import REDIS_URL, Stack
from tests.gateway.limited import CHAT, LimitedKey, limited_key


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


@asynccontextmanager
async def _monitored() -> AsyncIterator[list[dict[str, Any]]]:
    """Every command Redis runs for a client (not from inside a script) meanwhile."""
    seen: list[dict[str, Any]] = []
    client = aioredis.from_url(REDIS_URL)
    try:
        async with client.monitor() as monitor:
            ready = asyncio.Event()

            async def listen() -> None:
                ready.set()
                while True:
                    seen.append(dict(await monitor.next_command()))

            task = tasks.spawn(listen(), name="monitor")
            await ready.wait()
            await asyncio.sleep(0.05)
            try:
                yield seen
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    finally:
        await client.aclose()


async def _commands_of_one_request(stack: Stack, limited: LimitedKey) -> list[str]:
    url = str(stack.gateway.make_url("/v1/chat/completions"))
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=CHAT, headers=limited.headers) as warm_up:
            assert warm_up.status == 200  # the key cached, the balance snapshot in Redis
        await asyncio.sleep(0.1)
        async with _monitored() as seen:
            async with http.post(url, json=CHAT, headers=limited.headers) as response:
                assert response.status == 200
                request_id = response.headers["X-Request-Id"]
            await asyncio.sleep(4 * LINGER_SECONDS + 0.05)  # its event and shrink are out
    tag = f"{{u:{limited.account.id}}}"
    # The gateway's batched connection: the one that placed this request's hold.
    placing = next(
        command
        for command in seen
        if command["command"].startswith("EVALSHA") and request_id in command["command"]
    )
    port = placing["client_port"]
    return [
        command["command"]
        for command in seen
        if command["client_port"] == port
        and command["client_type"] != "lua"
        and (tag in command["command"] or request_id in command["command"])
    ]


async def test_no_limit_sends_the_hold_command_as_before(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db)
    commands = await _commands_of_one_request(stack, limited)
    assert [command.split()[0:3] for command in commands] == [
        ["EVALSHA", _sha(_PLACE), "3"],
        ["XADD", "tg:usage", "*"],
        ["EVALSHA", _sha(_SHRINK), "3"],
    ]
    assert len(commands[0].split()) == 3 + 3 + 4  # EVALSHA sha 3, 3 keys, 4 arguments


async def test_limits_ride_in_the_same_commands(stack: Stack, db: Any) -> None:
    limited = await limited_key(
        stack, db, key_limits={"rpm": 100, "tpm": 100_000, "concurrency": 5}
    )
    commands = await _commands_of_one_request(stack, limited)
    assert [command.split()[0:3] for command in commands] == [
        ["EVALSHA", _sha(limits.place_limited_script(_PLACE)), "6"],
        ["XADD", "tg:usage", "*"],
        ["EVALSHA", _sha(limits.finish_script(_SHRINK)), "5"],  # the slot and the TPM settle
    ]
