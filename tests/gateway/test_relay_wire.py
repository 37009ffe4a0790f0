"""Recorded provider answers through the gateway: bytes relayed as sent, usage as recorded.

The mock provider replays each file of `../shared/fixtures/wire/` byte for
byte; the gateway must hand the client the same bytes (less the usage chunk
it added, when the client did not ask for it) and log the usage the index
says a correct parser extracts.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.metering.provider_usage import TokenUsage
from services.gateway.metering.stream_usage import is_usage_only_chunk
from services.gateway.relay.sse import SseParser
from tests.conftest import Stack
from tests.gateway.test_usage import INDEX, WIRE, api_of, normalised
from tests.relay import Relay, relay_for, usage_results

MESSAGES = [{"role": "user", "content": "hi"}]


def _request(api: str, stream: bool) -> tuple[str, dict[str, Any]]:
    if api == "openai_chat":
        body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return "/v1/chat/completions", body
    if api == "openai_responses":
        return "/v1/responses", {"model": "gpt-4.1-mini", "input": "hi", "stream": stream}
    if api == "openai_embeddings":
        return "/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}
    if api == "anthropic_messages":
        body = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": MESSAGES}
        return "/v1/messages", body | ({"stream": True} if stream else {})
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/gemini-2.5-flash:{method}", {"contents": [{"parts": [{"text": "hi"}]}]}


async def _send(
    relay: Relay, entry: dict[str, Any], body_changes: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    path, body = _request(api_of(entry), entry["stream"])
    headers = {"Authorization": f"Bearer {relay.key}", "X-Mock-Fixture": entry["file"]}
    response = await relay.stack.gateway.post(
        path, json=body | (body_changes or {}), headers=headers
    )
    return response.status, await response.read()


def _usage(result: dict[str, Any]) -> TokenUsage:
    return TokenUsage(
        input_tokens=result["input_tokens"],
        output_tokens=result["output_tokens"],
        cache_read_tokens=result["cache_read_tokens"],
        cache_write_tokens=result["cache_write_tokens"],
        reasoning_tokens=result["reasoning_tokens"],
    )


@pytest.mark.parametrize(
    "entry", [e for e in INDEX if e["http_status"] == 200], ids=lambda e: e["file"]
)
async def test_recorded_answers_relay_byte_for_byte_with_their_usage(
    stack: Stack, caplog: pytest.LogCaptureFixture, entry: dict[str, Any]
) -> None:
    relay = await relay_for(stack)
    status, received = await _send(relay, entry)
    assert status == 200
    assert received == (WIRE / entry["file"]).read_bytes()
    (result,) = await usage_results(caplog)
    assert result["status"] == "ok" and result["usage_source"] == "upstream"
    assert _usage(result) == normalised(api_of(entry), entry["expected_usage"])


@pytest.mark.parametrize(
    "entry",
    [e for e in INDEX if e["stream"] and api_of(e) == "openai_chat"],
    ids=lambda e: e["file"],
)
async def test_the_usage_chunk_the_gateway_added_is_the_only_difference(
    stack: Stack, caplog: pytest.LogCaptureFixture, entry: dict[str, Any]
) -> None:
    relay = await relay_for(stack)
    status, received = await _send(relay, entry, {"stream_options": None})
    recorded = (WIRE / entry["file"]).read_bytes()
    parser = SseParser()
    events = parser.feed(recorded) + parser.close()
    expected = b"".join(e.raw for e in events if not is_usage_only_chunk(e))
    assert status == 200 and expected != recorded
    assert received == expected
    (result,) = await usage_results(caplog)
    assert _usage(result) == normalised("openai_chat", entry["expected_usage"])


async def test_an_upstream_4xx_answering_a_stream_is_passed_on(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    relay = await relay_for(stack)
    (entry,) = [e for e in INDEX if e["http_status"] == 404]
    status, received = await _send(relay, entry)
    assert status == 404
    error = orjson.loads(received)["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND"
    (result,) = await usage_results(caplog)
    assert result["status"] == "upstream_error" and result["http_status"] == 404
    assert result["input_tokens"] == result["output_tokens"] == 0
