"""`shared.response_headers` through the stack: what every answer carries.

No version in `Server`, `nosniff` everywhere, `no-store` on everything with
an account's data in it (the JWKS, public and cacheable, keeps its own), and
`x-should-retry: false` where trying again cannot help, in each client's
error format. On 0c207e1 every answer said `Server: Python/3.11
aiohttp/3.x`, none had `nosniff`, `no-store` or `x-should-retry`.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import orjson
from aiohttp import ClientResponse

from tests.accounts import create_key, sign_up
from tests.conftest import Stack
from tests.relay import relay_for

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
MESSAGES = {
    "model": "claude-haiku-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Say hello"}],
}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
WRONG_KEY = "tg-" + "0" * 40


def _edge_headers(response: ClientResponse, *, cache: str = "no-store") -> None:
    where = f"{response.method} {response.url.path} {response.status}"
    assert response.headers["Server"] == "tollgate", where
    assert response.headers.getall("X-Content-Type-Options") == ["nosniff"], where
    assert response.headers.getall("Cache-Control") == [cache], where


def _no_retry(response: ClientResponse) -> None:
    assert response.headers.getall("x-should-retry") == ["false"], response.url.path


async def test_every_answer_of_the_gateway_carries_the_edge_headers(stack: Stack) -> None:
    gateway = stack.gateway
    relay = await relay_for(stack)
    user = relay.account
    key_headers = {"Authorization": f"Bearer {relay.key}"}
    answers = [
        await gateway.get("/healthz"),
        await gateway.post(
            "/api/auth/login",
            json={"login": user.username, "password": "correct horse battery staple"},
        ),
        await gateway.post("/api/keys", json={"name": "second"}, headers=user.headers),
        await gateway.post(f"/api/keys/{uuid.uuid4()}/rotate", headers=user.headers),
        await gateway.get("/api/keys", headers=user.headers),
        await gateway.get("/api/me", headers=user.headers),
        await gateway.get("/api/billing/balance", headers=user.headers),
        await gateway.get("/api/billing/ledger", headers=user.headers),
        await gateway.get("/api/usage", headers=user.headers),
        await gateway.post("/v1/chat/completions", json=CHAT, headers=key_headers),
        await gateway.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=key_headers
        ),
        await gateway.get("/v1/models", headers=key_headers),
        await gateway.get("/no/such/path"),
        await gateway.get("/metrics"),
    ]
    for response in answers:
        await response.read()
        _edge_headers(response)
        assert "aiohttp" not in " ".join(response.headers.values())
    jwks = await gateway.get("/.well-known/jwks.json")
    _edge_headers(jwks, cache="max-age=60")


async def test_internal_services_answer_with_the_same_headers(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        for server in (stack.auth, stack.billing, stack.usage):
            for path in ("/healthz", "/api/me", "/metrics"):
                async with session.get(server.make_url(path)) as response:
                    _edge_headers(response)


async def test_public_metrics_are_not_served(stack: Stack) -> None:
    """On 0c207e1 the gateway's public `/metrics` listed channel names and breaker states."""
    await relay_for(stack)
    response = await stack.gateway.get("/metrics")
    text = await response.text()
    assert response.status == 404
    assert "tollgate_channel" not in text and "http_server_requests" not in text


async def test_a_wrong_key_is_not_worth_retrying_in_any_family(stack: Stack) -> None:
    gateway = stack.gateway
    openai_chat = await gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {WRONG_KEY}"}
    )
    anthropic = await gateway.post(
        "/v1/messages",
        json=MESSAGES,
        headers={"x-api-key": WRONG_KEY, "anthropic-version": "2023-06-01"},
    )
    gemini = await gateway.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json=GEMINI,
        headers={"x-goog-api-key": WRONG_KEY},
    )
    api = await gateway.get("/api/me", headers={"Authorization": f"Bearer {WRONG_KEY}"})
    for response in (openai_chat, anthropic, gemini, api):
        assert response.status == 401, await response.text()
        _no_retry(response)
        _edge_headers(response)
    assert (await openai_chat.json())["error"]["type"] == "authentication_error"
    assert (await anthropic.json())["error"]["type"] == "authentication_error"
    assert (await gemini.json())["error"]["status"] == "UNAUTHENTICATED"


async def test_other_answers_retrying_cannot_fix_say_so(stack: Stack) -> None:
    relay = await relay_for(stack)
    gateway, key = stack.gateway, relay.key
    poor = await create_key(gateway, await sign_up(gateway))  # an empty balance
    answers: dict[int, list[ClientResponse]] = {
        404: [
            await gateway.post(
                "/v1/chat/completions",
                json={**CHAT, "model": "no-such-model"},
                headers={"Authorization": f"Bearer {key}"},
            ),
            await gateway.post(
                "/v1/messages",
                json={**MESSAGES, "model": "no-such-model"},
                headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            ),
            await gateway.post(
                "/v1beta/models/no-such-model:generateContent",
                json=GEMINI,
                headers={"x-goog-api-key": key},
            ),
        ],
        402: [
            await gateway.post(
                "/v1/chat/completions",
                json=CHAT,
                headers={"Authorization": f"Bearer {poor['key']}"},
            ),
        ],
        403: [
            await gateway.get("/api/keys", headers={"Authorization": f"Bearer {key}"}),
        ],
        422: [
            await gateway.post("/api/keys", json={"name": 7}, headers=relay.account.headers),
        ],
    }
    for status, responses in answers.items():
        for response in responses:
            assert response.status == status, (status, await response.text())
            _no_retry(response)
    # Worth retrying, or a conflict a client resolves otherwise: no such header.
    taken = await gateway.post(
        "/api/auth/signup",
        json={
            "email": "other@example.com",
            "username": relay.account.username,
            "password": "correct horse battery staple",
        },
    )
    assert taken.status == 409 and "x-should-retry" not in taken.headers


async def test_a_malformed_body_is_a_400_not_worth_retrying(stack: Stack) -> None:
    relay = await relay_for(stack)
    response = await stack.gateway.post(
        "/v1/chat/completions", data=b"{not json", headers={"Authorization": f"Bearer {relay.key}"}
    )
    body: Any = orjson.loads(await response.read())
    assert response.status == 400 and "error" in body
    _edge_headers(response)
    _no_retry(response)
