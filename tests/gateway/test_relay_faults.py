"""Faults through the relay: disconnects, resets, stalls, 429 and 500, and what each is billed."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from services.gateway.relay.sse import SseParser
from tests.accounts import create_key, sign_up
from tests.conftest import Stack
from tests.relay import Relay, add_mock_channels, add_prices, credit, relay_for, usage_results

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture
async def relay(stack: Stack) -> Relay:
    return await relay_for(stack)


async def _mock_stats(relay: Relay) -> dict[str, Any]:
    async with relay.stack.gateway.session.get(
        relay.stack.mock.make_url("/mock/stats")
    ) as response:
        stats: dict[str, Any] = await response.json()
        return stats


def _headers(relay: Relay, **mock: str) -> dict[str, str]:
    controls = {f"X-Mock-{name.replace('_', '-').title()}": value for name, value in mock.items()}
    return {"Authorization": f"Bearer {relay.key}", **controls}


async def test_a_client_that_hangs_up_cancels_the_upstream_within_a_second(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    url = relay.stack.gateway.make_url("/v1/chat/completions")
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            url, json=CHAT | {"stream": True}, headers=_headers(relay, chunks="50", delay_ms="100")
        )
        assert response.status == 200
        first = await response.content.readany()
        assert first.startswith(b"data: ")
        response.close()  # drop the connection mid-stream
        hung_up = time.time()
    deadline = time.monotonic() + 3
    while True:
        ended = [e for e in (await _mock_stats(relay))["ended"] if e["outcome"] == "cancelled"]
        if ended or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert ended, "the upstream stream was never cancelled"
    assert ended[0]["ended_at"] - hung_up < 1.0
    assert ended[0]["pieces_sent"] < 50
    for _ in range(50):
        if await usage_results(caplog):
            break
        await asyncio.sleep(0.02)
    (result,) = await usage_results(caplog)
    assert result["status"] == "client_disconnected" and result["partial"] is True
    assert result["usage_source"] == "estimated"  # the usage chunk never came
    # Billed the input and the text delivered (the first read: the role chunk,
    # maybe a word or two), never the chunks' JSON.
    parser = SseParser()
    words = [
        choice["delta"].get("content") or ""
        for event in parser.feed(first) + parser.close()
        if event.data.startswith(b"{")
        for choice in orjson.loads(event.data)["choices"]
    ]
    assert result["input_tokens"] > 0
    assert result["output_tokens"] <= -(-len("".join(words).encode()) // 4) + 3


async def test_a_reset_after_the_first_byte_ends_the_stream_with_an_error_event(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    response = await relay.stack.gateway.post(
        "/v1/chat/completions",
        json=CHAT | {"stream": True},
        headers=_headers(relay, reset_after="3"),
    )
    assert response.status == 200
    parser = SseParser()
    events = parser.feed(await response.read()) + parser.close()
    assert b'"error"' in events[-1].data
    async with openai.AsyncOpenAI(
        base_url=str(relay.stack.gateway.make_url("/v1")), api_key=relay.key, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Say hello"}],
            stream=True,
            extra_headers={"X-Mock-Reset-After": "3"},
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass
    result = (await usage_results(caplog))[0]
    assert result["status"] == "upstream_error" and result["error_code"] == "upstream_disconnected"
    assert result["usage_source"] == "estimated" and result["output_tokens"] > 0


async def test_a_stalled_stream_times_out_with_an_error_event(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    response = await relay.stack.gateway.post(
        "/v1/chat/completions", json=CHAT | {"stream": True}, headers=_headers(relay, stall="2")
    )
    body = await response.read()
    idle = relay.stack.gateway_settings.upstream_idle_timeout
    assert time.monotonic() - started >= idle
    assert response.status == 200 and b'"error"' in body.rsplit(b"data: ", 1)[-1]
    (result,) = await usage_results(caplog)
    assert result["status"] == "upstream_error" and result["error_code"] == "upstream_timeout"


async def test_a_stalled_whole_answer_is_504(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    response = await relay.stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers=_headers(relay, stall="1")
    )
    assert response.status == 504
    assert (await response.json())["error"]["type"] == "server_error"
    (result,) = await usage_results(caplog)
    assert result["status"] == "upstream_error" and result["http_status"] == 504


async def test_upstream_429_is_passed_on_with_retry_after(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    response = await relay.stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers=_headers(relay, status="429")
    )
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    assert (await response.json())["error"]["type"] == "rate_limit_error"
    (result,) = await usage_results(caplog)
    assert result["status"] == "upstream_error" and result["http_status"] == 429
    assert result["input_tokens"] == result["output_tokens"] == 0


@pytest.mark.parametrize("upstream_status", ["500", "503"])
async def test_upstream_5xx_is_502_without_upstream_details(
    relay: Relay, caplog: pytest.LogCaptureFixture, upstream_status: str
) -> None:
    response = await relay.stack.gateway.post(
        "/v1/messages",
        json={"model": "claude-haiku-4-5", "max_tokens": 10, "messages": CHAT["messages"]},
        headers=_headers(relay, status=upstream_status) | {"anthropic-version": "2023-06-01"},
    )
    assert response.status == 502
    body = await response.json()
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    text = str(body)
    assert "127.0.0.1" not in text and "upstream-secret" not in text
    (result,) = await usage_results(caplog)
    assert (
        result["status"] == "upstream_error"
        and result["error_code"] == f"upstream_{upstream_status}"
    )


async def test_an_unreachable_upstream_is_502(stack: Stack) -> None:
    await add_mock_channels(stack, base_url="http://127.0.0.1:9")
    await add_prices(stack)
    account = await sign_up(stack.gateway)
    await credit(stack, account.id, Decimal(1))
    key = (await create_key(stack.gateway, account))["key"]
    response = await stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 502
    assert "127.0.0.1" not in await response.text()
