"""Bad input on the relay gets a 4xx in the client's own format, never a 500."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from shared import redis_conn
from shared.logs import JsonFormatter
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM
from tests.accounts import create_key
from tests.conftest import Stack
from tests.relay import Relay, relay_for, usage_results


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


async def test_an_expired_key_is_refused(relay: Relay) -> None:
    # The expiry is set just before the key is made: the stack's setup can take
    # more than a second on a busy machine.
    expiring = await create_key(
        relay.stack.gateway,
        relay.account,
        expires_at=(datetime.now(UTC) + timedelta(seconds=2)).isoformat(),
    )
    await asyncio.sleep(2.2)
    response = await relay.stack.gateway.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": []},
        headers={"Authorization": f"Bearer {expiring['key']}"},
    )
    assert response.status == 401


# ---- model names and user agents (issue 15) -------------------------------------


def _bearer(relay: Relay) -> dict[str, str]:
    return {"Authorization": f"Bearer {relay.key}"}


async def test_a_nul_model_is_400_and_never_reaches_the_usage_event(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    """It was a 404 whose usage event carried "\\u0000", which PostgreSQL refuses:
    billing retried that batch forever."""
    response = await relay.stack.gateway.post(
        "/v1/chat/completions", json={"model": "\u0000", "messages": []}, headers=_bearer(relay)
    )
    assert response.status == 400
    error = _openai_error(await response.json())
    assert error["message"] == "model: must not contain NUL characters."
    results = await usage_results(caplog)
    assert results and all(r["requested_model"] is None for r in results)
    events = await _usage_stream(relay)
    assert events and all(event["requested_model"] is None for event in events)


async def _usage_stream(relay: Relay) -> list[dict[str, Any]]:
    """The usage events the gateway published."""
    async with redis_conn.client(relay.stack.common.redis_url) as redis:
        entries: Any = await redis.xrange(USAGE_STREAM)
    return [orjson.loads(fields[EVENT_FIELD]) for _, fields in entries]


@pytest.mark.parametrize(
    ("path", "headers_of", "body"),
    [
        ("/v1/chat/completions", "openai", {"model": "m" * 70_000, "messages": []}),
        ("/v1/messages", "anthropic", {"model": "m" * 70_000, "messages": [], "max_tokens": 5}),
        ("/v1/embeddings", "openai", {"model": "gpt\u0007x", "input": "hi"}),
        ("/v1beta/models/" + "m" * 7_000 + ":generateContent", "gemini", {"contents": []}),
    ],
)
async def test_a_long_or_control_model_name_is_400_and_never_echoed_whole(
    relay: Relay,
    caplog: pytest.LogCaptureFixture,
    path: str,
    headers_of: str,
    body: dict[str, Any],
) -> None:
    headers = {
        "openai": _bearer(relay),
        "anthropic": {"x-api-key": relay.key, "anthropic-version": "2023-06-01"},
        "gemini": {"x-goog-api-key": relay.key},
    }[headers_of]
    response = await relay.stack.gateway.post(path, json=body, headers=headers)
    assert response.status == 400
    text = await response.text()
    assert len(text) < 1_000 and "m" * 300 not in text
    answer = await response.json()
    if headers_of == "anthropic":
        assert answer["type"] == "error" and answer["error"]["type"] == "invalid_request_error"
    elif headers_of == "gemini":
        assert answer["error"]["status"] == "INVALID_ARGUMENT"
    else:
        _openai_error(answer)
    results = await usage_results(caplog)
    assert results and all(r["requested_model"] is None for r in results)
    lines = [JsonFormatter("gateway").format(record) for record in caplog.records]
    assert lines and all(len(line) < 4_000 for line in lines)


async def test_a_long_model_in_a_catalog_path_or_unknown_route_is_quoted_capped(
    relay: Relay,
) -> None:
    for path in ("/v1/models/" + "m" * 7_000, "/v1/" + "p" * 7_000):
        response = await relay.stack.gateway.get(path, headers=_bearer(relay))
        assert response.status == 404
        assert len(await response.text()) < 1_000


async def _raw_request(relay: Relay, head: bytes, body: bytes) -> bytes:
    server = relay.stack.gateway.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_user_agent_of_undecodable_bytes_is_recorded_cleaned(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not UTF-8 became lone surrogates, which no event can carry:
    the call went unbilled."""
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {relay.key}\r\n".encode()
        + b"Content-Type: application/json\r\nUser-Agent: agent\xff\xfe/1\r\n"
    )
    answer = await _raw_request(relay, head, body)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    results = await usage_results(caplog)
    assert results[-1]["user_agent"] == "agent\ufffd\ufffd/1"
    events = await _usage_stream(relay)
    assert [event["user_agent"] for event in events] == ["agent\ufffd\ufffd/1"]


async def test_a_body_nested_too_deep_to_write_again_is_400(relay: Relay) -> None:
    content = "[" * 500 + "]" * 500
    raw = (
        b'{"model": "claude-sonnet-4-5", "max_tokens": 10, "max_tokens": 10, '
        b'"messages": [{"role": "user", "content": ' + content.encode() + b"}]}"
    )
    response = await relay.stack.gateway.post(
        "/v1/messages", data=raw, headers={"x-api-key": relay.key}
    )
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["type"] == "error" and "254 levels" in body["error"]["message"]
