"""Test helpers that play a user through the public gateway."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True, kw_only=True)
class Account:
    id: str
    email: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(client: Client, username: str | None = None) -> Account:
    username = username or f"user_{secrets.token_hex(4)}"
    email = f"{username}@example.com"
    response = await client.post(
        "/api/auth/signup", json={"email": email, "username": username, "password": PASSWORD}
    )
    assert response.status == 201, await response.text()
    # The sign-up answer is the same whether or not the email was taken: no id.
    token = await log_in(client, username)
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200, await me.text()
    return Account(id=(await me.json())["id"], email=email, username=username, token=token)


async def log_in(client: Client, login: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/login", json={"login": login, "password": password})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    token: str = body["access_token"]
    return token


async def create_key(client: Client, account: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/keys", json={"name": "test", **fields}, headers=account.headers
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def refused_within_a_second(client: Client, headers: dict[str, str]) -> str:
    """`GET /api/me` with `headers` until it is refused (401), for at most a second:
    a credential change reaches the gateways' caches by a Redis notice, and the
    promise is "within a second" (docs/accounts.md), not before the change's own
    answer. Returns the refusal's text."""
    for _ in range(20):
        answer = await client.get("/api/me", headers=headers)
        if answer.status == 401:
            return await answer.text()
        assert answer.status == 200, await answer.text()
        await asyncio.sleep(0.05)
    raise AssertionError("the old credential still worked a second after the change")
