"""Bad input on the relay gets a 4xx in the client's own format, never a 500."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.conftest import Stack
from tests.relay import Relay, relay_for


@pytest.fixture
async def relay(stack: Stack) -> Relay:
    return await relay_for(stack)


def _openai_error(body: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = body["error"]
    assert set(error) >= {"message", "type", "code"}
    return error


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (b"", 400),
        (b'{"messages": []}', 400),
        (b'{"model": 5, "messages": []}', 400),
        (b'{"model": "gpt-4o-mini", "messages": "hi"}', 400),
        (b'{"model": "gpt-4o-mini", "messages": [], "stream": "yes"}', 400),
        (b'{"model": "gpt-4o-mini", "messages": [], "max_tokens": -1}', 400),
        (b'{"model": "no-such-model", "messages": []}', 404),
    ],
)
async def test_openai_bad_input(relay: Relay, raw: bytes, status: int) -> None:
    response = await relay.stack.gateway.post(
        "/v1/chat/completions",
        data=raw,
        headers={"Authorization": f"Bearer {relay.key}", "Content-Type": "application/json"},
    )
    assert response.status == status
    _openai_error(await response.json())


async def test_anthropic_bad_input_is_in_anthropic_shape(relay: Relay) -> None:
    response = await relay.stack.gateway.post(
        "/v1/messages", data=b"{oops", headers={"x-api-key": relay.key}
    )
    assert response.status == 400
    body = await response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


async def test_gemini_bad_input_is_in_gemini_shape(relay: Relay) -> None:
    response = await relay.stack.gateway.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": "x"},
        headers={"x-goog-api-key": relay.key},
    )
    assert response.status == 400
    assert (await response.json())["error"]["status"] == "INVALID_ARGUMENT"
    no_sse = await relay.stack.gateway.post(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        json={"contents": []},
        headers={"x-goog-api-key": relay.key},
    )
    assert no_sse.status == 400 and "alt=sse" in (await no_sse.json())["error"]["message"]


async def test_a_body_over_the_limit_is_413(relay: Relay) -> None:
    limit = relay.stack.gateway_settings.max_body_bytes
    big = b'{"model": "gpt-4o-mini", "messages": [], "x": "' + b"a" * limit + b'"}'
    response = await relay.stack.gateway.post(
        "/v1/chat/completions",
        data=io.BytesIO(big),
        headers={"Authorization": f"Bearer {relay.key}"},
    )
    assert response.status == 413
    _openai_error(await response.json())


async def test_unknown_routes_and_credentials(relay: Relay) -> None:
    headers = {"Authorization": f"Bearer {relay.key}"}
    unknown = await relay.stack.gateway.post("/v1/nowhere", json={}, headers=headers)
    assert unknown.status == 404
    _openai_error(await unknown.json())
    gemini_unknown = await relay.stack.gateway.post(
        "/v1beta/models/x:explode", json={}, headers=headers
    )
    assert gemini_unknown.status == 404 and "status" in (await gemini_unknown.json())["error"]
    no_key = await relay.stack.gateway.post("/v1/chat/completions", json={})
    assert no_key.status == 401
    _openai_error(await no_key.json())
    bad_key = await relay.stack.gateway.post(
        "/v1/chat/completions", json={}, headers={"Authorization": "Bearer tg-nonsense"}
    )
    assert bad_key.status == 401
    login = await relay.stack.gateway.post(
        "/v1/chat/completions", json={}, headers=relay.account.headers
    )
    assert login.status == 401 and "API key" in (await login.json())["error"]["message"]


async def test_an_expired_key_is_refused(stack: Stack) -> None:
    from datetime import UTC, datetime, timedelta

    relay = await relay_for(
        stack, expires_at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    )
    import asyncio

    await asyncio.sleep(1.2)
    response = await stack.gateway.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": []},
        headers={"Authorization": f"Bearer {relay.key}"},
    )
    assert response.status == 401
