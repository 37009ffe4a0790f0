"""Pacing, resets, stalls and client disconnects, seen through the SDKs."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aiohttp
import anthropic
import httpx2
import openai
import pytest
from google.genai import client as genai_client
from openai.types.chat import ChatCompletionMessageParam

from tests.mockprovider.conftest import GENAI_SUBCLASS_WARNING, stats

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]


async def test_openai_stream_reset_after_n_pieces(
    openai_client: openai.AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    stream = await openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={"X-Mock-Reset-After": "3"},
    )
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert len(received) == 1 + 3  # the role chunk, then three pieces
    [ended] = (await stats(http))["ended"]
    assert (ended["outcome"], ended["pieces_sent"], ended["stream"]) == ("reset", 3, True)


async def test_reset_before_the_trailer_and_non_stream(
    openai_client: openai.AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    stream = await openai_client.chat.completions.create(
        model="gpt-4o-mini@chunks=2,reset=2",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage_seen = False
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            usage_seen = usage_seen or chunk.usage is not None
    assert not usage_seen  # every piece arrived, the usage chunk never did
    with pytest.raises(openai.APIConnectionError):
        await openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"X-Mock-Reset-After": "0"}
        )
    outcomes = [(e["stream"], e["outcome"]) for e in (await stats(http))["ended"]]
    assert outcomes == [(True, "reset"), (False, "reset")]


async def test_anthropic_stream_reset(anthropic_client: anthropic.AsyncAnthropic) -> None:
    texts: list[str] = []
    # The SDK raises the transport's error, or (newer releases) its own
    # APIConnectionError made from it.
    with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)) as raised:
        async with anthropic_client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Mock-Reset-After": "2"},
        ) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    reset = raised.value
    if isinstance(reset, anthropic.APIConnectionError):
        assert isinstance(reset.__cause__, httpx2.RemoteProtocolError), reset.__cause__
    assert len(texts) == 2


@GENAI_SUBCLASS_WARNING
async def test_gemini_stream_reset(gemini_client: genai_client.AsyncClient) -> None:
    texts: list[str] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async for chunk in await gemini_client.models.generate_content_stream(
            model="gemini-2.5-flash@reset=1", contents="hi"
        ):
            texts.append(chunk.text or "")
    assert len(texts) == 1


async def test_stall_until_the_client_times_out(
    openai_client: openai.AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    stream = await openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={"X-Mock-Stall": "1"},
        timeout=0.3,
    )
    received = 0
    with pytest.raises(openai.APITimeoutError):
        async for _chunk in stream:
            received += 1
    gave_up = time.time()
    assert received == 2  # the role chunk and the first piece
    ended = await _wait_for_end(http)
    assert ended["outcome"] == "cancelled" and ended["pieces_sent"] == 1
    assert ended["ended_at"] - gave_up < 1.0


async def test_non_stream_stall_sends_headers_then_nothing(
    openai_client: openai.AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(openai.APITimeoutError):
        await openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"X-Mock-Stall": "0"}, timeout=0.3
        )
    ended = await _wait_for_end(http)
    assert (ended["stream"], ended["outcome"]) == (False, "cancelled")


async def test_client_disconnect_is_noticed_within_a_second(
    http: aiohttp.ClientSession,
) -> None:
    body = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": MESSAGES, "stream": True}
    headers = {"x-api-key": "x", "anthropic-version": "2023-06-01", "X-Mock-Delay-Ms": "5000"}
    response = await http.post("/v1/messages", json=body, headers=headers)
    assert response.status == 200
    first = await response.content.readuntil(b"\n\n")
    assert first.startswith(b"event: message_start")
    assert (await stats(http))["open"] == 1
    response.close()  # drop the connection mid-stream, as a gateway would
    left = time.time()
    ended = await _wait_for_end(http)
    assert ended["outcome"] == "cancelled" and ended["pieces_sent"] == 0
    assert 0 <= ended["ended_at"] - left < 1.0
    assert (await stats(http))["open"] == 0


async def test_delay_paces_each_piece(openai_client: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    stream = await openai_client.chat.completions.create(
        model="gpt-4o-mini@chunks=4,delay=60", messages=MESSAGES, stream=True
    )
    arrivals = [time.monotonic() async for chunk in stream if chunk.choices[0].delta.content]
    assert len(arrivals) == 4
    assert arrivals[-1] - started >= 0.24
    assert all(later - earlier >= 0.04 for earlier, later in itertools.pairwise(arrivals))
    started = time.monotonic()
    await openai_client.chat.completions.create(
        model="gpt-4o-mini@chunks=3,delay=50", messages=MESSAGES
    )
    assert time.monotonic() - started >= 0.15


async def test_stats_count_routes_and_clear(
    openai_client: openai.AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    await openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    await openai_client.models.list()
    snapshot = await stats(http)
    assert snapshot["requests"] == 2
    assert snapshot["by_route"] == {"openai.chat": 1, "models.list": 1}
    assert snapshot["outcomes"] == {"completed": 1, "cancelled": 0, "reset": 0}
    assert "Say hello" not in str(snapshot)  # counts and times, never a prompt
    async with http.delete("/mock/stats") as response:
        assert response.status == 204
    assert (await stats(http))["requests"] == 0


async def _wait_for_end(http: aiohttp.ClientSession) -> dict[str, Any]:
    for _ in range(100):
        ended = (await stats(http))["ended"]
        if ended:
            entry: dict[str, Any] = ended[-1]
            return entry
        await asyncio.sleep(0.02)
    raise AssertionError("the mock never noticed the client leaving")
