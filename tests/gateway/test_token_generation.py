"""Login tokens issued before a password change stop working on running
gateways within a second (the user's token generation, cached per gateway,
dropped on auth's notice), and the cache is not trusted without the feed."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.keys import SIGNING_KEYS
from services.gateway.admission.user_generations import UserGenerations
from services.gateway.app import create_app as create_gateway
from services.gateway.app_keys import USER_GENERATIONS
from tests.accounts import PASSWORD, sign_up
from tests.conftest import INTERNAL_TOKEN, AiohttpClient, Stack

NEW_PASSWORD = "another fine passphrase 7"
Client = TestClient[web.Request, web.Application]


async def _live(client: Client) -> None:
    generations = client.app[USER_GENERATIONS]
    for _ in range(250):
        if generations.live:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the gateway never subscribed to the invalidation feed")


async def _status(client: Client, token: str) -> int:
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    return response.status


async def _refused_within(client: Client, token: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        if response.status == 401:
            assert "token revoked, sign in again" in await response.text()
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"the old token still worked {seconds} s after the change")


async def test_old_tokens_stop_on_every_running_gateway_within_a_second(
    stack: Stack, aiohttp_client: AiohttpClient
) -> None:
    other = await aiohttp_client(
        create_gateway(
            replace(stack.gateway_settings, spool_dir=stack.common.data_dir / "spool-other")
        )
    )
    await _live(stack.gateway)
    await _live(other)
    account = await sign_up(stack.gateway)
    for gateway in (stack.gateway, other):  # both have the generation cached
        assert await _status(gateway, account.token) == 200
        assert gateway.app[USER_GENERATIONS]._cache._entries  # the warm cache
    changed = await stack.gateway.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert body["token_type"] == "bearer"
    took = await _refused_within(other, account.token, 1.0)
    print(f"old token refused by the other gateway after {took * 1000:.0f} ms")
    await _refused_within(stack.gateway, account.token, 1.0)
    for gateway in (stack.gateway, other):  # the fresh token from the answer works
        assert await _status(gateway, body["access_token"]) == 200


async def test_a_token_without_gen_is_generation_zero(stack: Stack, db: Any) -> None:
    account = await sign_up(stack.gateway)
    kid, key = await _signing_key(stack)
    claims = jwt.decode(account.token, options={"verify_signature": False})
    assert claims["gen"] == 0
    del claims["gen"]
    legacy = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
    assert await _status(stack.gateway, legacy) == 200
    for bad in ("1", True, -1, 1.5, None):
        forged = jwt.encode({**claims, "gen": bad}, key, algorithm="EdDSA", headers={"kid": kid})
        assert await _status(stack.gateway, forged) == 401, bad
    ahead = jwt.encode({**claims, "gen": 5}, key, algorithm="EdDSA", headers={"kid": kid})
    assert await _status(stack.gateway, ahead) == 200  # not older than the user's
    await db.execute(
        "UPDATE auth.users SET token_generation = 1 WHERE id = $1", uuid.UUID(account.id)
    )
    stack.gateway.app[USER_GENERATIONS].drop(uuid.UUID(account.id))
    assert await _status(stack.gateway, legacy) == 401
    assert await _status(stack.gateway, account.token) == 401


async def test_without_the_feed_nothing_is_cached(stack: Stack, db: Any) -> None:
    account = await sign_up(stack.gateway)
    user_id = uuid.UUID(account.id)
    async with aiohttp.ClientSession() as session:
        generations = UserGenerations(
            session, str(stack.auth.make_url("")).rstrip("/"), INTERNAL_TOKEN, 60
        )
        await generations.on_live(False)
        assert await generations.current(user_id) == 0
        await db.execute("UPDATE auth.users SET token_generation = 3 WHERE id = $1", user_id)
        assert await generations.current(user_id) == 3  # asked again, not cached
        await generations.on_live(True)
        assert await generations.current(user_id) == 3
        await db.execute("UPDATE auth.users SET token_generation = 4 WHERE id = $1", user_id)
        assert await generations.current(user_id) == 3  # cached while the feed is up
        await generations.on_changed(str(user_id))
        assert await generations.current(user_id) == 4
        await generations.on_changed("not a uuid")  # ignored, nothing breaks
        await db.execute("DELETE FROM auth.users WHERE id = $1", user_id)
        generations.drop(user_id)
        try:
            await generations.current(user_id)
        except Exception as exc:  # a deleted user's tokens are invalid
            assert getattr(exc, "status", None) == 401
        else:
            raise AssertionError("a deleted user's generation was answered")


async def test_a_lookup_racing_a_drop_does_not_cache_the_old_generation(
    stack: Stack, db: Any
) -> None:
    account = await sign_up(stack.gateway)
    user_id = uuid.UUID(account.id)
    async with aiohttp.ClientSession() as session:
        generations = UserGenerations(
            session, str(stack.auth.make_url("")).rstrip("/"), INTERNAL_TOKEN, 60
        )
        await generations.on_live(True)
        lookup = asyncio.ensure_future(generations.current(user_id))
        await asyncio.sleep(0)  # the lookup has started its request
        generations.drop(user_id)  # a change notice arrives meanwhile
        assert await lookup == 0
        await db.execute("UPDATE auth.users SET token_generation = 1 WHERE id = $1", user_id)
        assert await generations.current(user_id) == 1


async def _signing_key(stack: Stack) -> tuple[str, Ed25519PrivateKey]:
    auth_app = stack.auth.app
    assert auth_app is not None
    key = await auth_app[SIGNING_KEYS].current()
    return key.kid, key.private_key
