"""Calls cut short are billed as DESIGN.md section 6 says: input plus delivered output, partial.

Through the whole stack (gateway, auth, billing consuming the usage stream,
the mock provider). The mock's answers are deterministic, and what a client
was delivered is what it read: each test computes the expected counts from
the bytes the client actually received, by the project's estimate rule (4
bytes of content a token, rounded up), and from the provider's own input
count where the stream carried one (Anthropic's `message_start`).

Tolerances:

- a stream the upstream resets, or that the client reads to its end, is
  pinned exactly: every content byte relayed was received;
- a stream the client closes mid-way may have had a few more events written
  into its socket before the gateway saw the hang-up: the billed output is at
  least what the client read and at most `CLOSE_SLACK_TOKENS` more (ten of
  the mock's one-word pieces at their longest, 9 bytes each);
- a hang-up before the first byte is billed its input exactly as the hold
  estimated it, `ceil(request body bytes / 4)`, and no output.

Each billed call is also charged by billing: its ledger charge is the price
of the counts in the event, and not zero.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from services.cli.seed import MOCK_PRICES
from services.gateway.relay.sse import SseEvent, SseParser
from tests.conftest import Stack
from tests.relay import Relay, relay_for, usage_results

BYTES_PER_TOKEN = 4  # the estimate rule, restated here rather than imported
CLOSE_SLACK_TOKENS = -(-10 * 9 // BYTES_PER_TOKEN)
PROMPT = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper"}]


def tokens_for(byte_count: int) -> int:
    return -(-byte_count // BYTES_PER_TOKEN)


@pytest.fixture
async def relay(stack: Stack) -> Relay:
    return await relay_for(stack)


def _headers(relay: Relay, **mock: str) -> dict[str, str]:
    controls = {f"X-Mock-{name.replace('_', '-').title()}": value for name, value in mock.items()}
    return {
        "Authorization": f"Bearer {relay.key}",
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
        **controls,
    }


def _payloads(events: list[SseEvent]) -> list[dict[str, Any]]:
    payloads = []
    for event in events:
        if event.has_data and event.data.startswith(b"{"):
            payloads.append(orjson.loads(event.data))
    return payloads


def _text_bytes(texts: list[str]) -> int:
    return sum(len(text.encode()) for text in texts)


async def _result(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    for _ in range(100):
        results = await usage_results(caplog)
        if results:
            (result,) = results
            return result
    raise AssertionError("no usage result was logged")


async def _charged(db: Any, event_id: str) -> Decimal:
    """The ledger charge billing made for one event (waits up to 15 s)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        charged = await db.fetchval(
            "SELECT charged FROM billing.usage_charges WHERE event_id = $1", event_id
        )
        if charged is not None:
            return Decimal(charged)
        await asyncio.sleep(0.05)
    raise AssertionError(f"event {event_id} was never charged")


def _price_of(model: str, result: dict[str, Any]) -> Decimal:
    input_, output, cache_read, cache_write = (Decimal(rate) for rate in MOCK_PRICES[model])
    counts = (
        Decimal(result[field])
        for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    )
    rates = (input_, output, cache_read, cache_write)
    return sum((count * rate for count, rate in zip(counts, rates, strict=True)), Decimal(0)) / (
        1_000_000
    )


async def _assert_charged(db: Any, model: str, result: dict[str, Any]) -> None:
    charged = await _charged(db, result["request_id"])
    assert charged == _price_of(model, result) and charged > 0


async def test_an_anthropic_stream_the_client_closes_after_100_of_200_deltas(
    relay: Relay, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Input from `message_start`, exactly; output from the ~100 deltas read (+0..slack)."""
    body = {"model": "claude-haiku-4-5", "max_tokens": 1000, "stream": True, "messages": PROMPT}
    parser, received = SseParser(), list[dict[str, Any]]()
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            relay.stack.gateway.make_url("/v1/messages"),
            data=orjson.dumps(body),
            headers=_headers(relay, chunks="200", delay_ms="10"),
        )
        assert response.status == 200
        while sum(p["type"] == "content_block_delta" for p in received) < 100:
            chunk = await response.content.readany()
            assert chunk, "the stream ended before 100 deltas"
            received += _payloads(parser.feed(chunk))
        response.close()  # the client hangs up mid-stream
    start = next(p for p in received if p["type"] == "message_start")
    deltas = [p["delta"]["text"] for p in received if p["type"] == "content_block_delta"]
    assert 100 <= len(deltas) < 200

    result = await _result(caplog)

    read = tokens_for(_text_bytes(deltas))
    assert read <= result["output_tokens"] <= read + CLOSE_SLACK_TOKENS, (read, result)
    assert result["input_tokens"] == start["message"]["usage"]["input_tokens"]
    assert result["status"] == "client_disconnected"
    assert result["partial"] is True and result["usage_source"] == "estimated"
    await _assert_charged(db, "claude-haiku-4-5", result)


async def test_an_anthropic_stream_the_upstream_resets_after_150_pieces(
    relay: Relay, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Every delta relayed was read: input from `message_start` and output pinned exactly."""
    body = {"model": "claude-haiku-4-5", "max_tokens": 1000, "stream": True, "messages": PROMPT}
    response = await relay.stack.gateway.post(
        "/v1/messages",
        data=orjson.dumps(body),
        headers=_headers(relay, chunks="200", reset_after="150"),
    )
    assert response.status == 200
    parser = SseParser()
    received = _payloads(parser.feed(await response.read()) + parser.close())
    assert received[-1]["type"] == "error"  # the gateway ends a broken stream in order
    start = next(p for p in received if p["type"] == "message_start")
    deltas = [p["delta"]["text"] for p in received if p["type"] == "content_block_delta"]
    assert len(deltas) == 150

    result = await _result(caplog)

    assert result["output_tokens"] == tokens_for(_text_bytes(deltas)), result
    assert result["input_tokens"] == start["message"]["usage"]["input_tokens"]
    assert result["status"] == "upstream_error"
    assert result["partial"] is True and result["usage_source"] == "estimated"
    await _assert_charged(db, "claude-haiku-4-5", result)


async def test_a_client_hanging_up_before_the_first_byte_is_billed_its_input(
    relay: Relay, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Input exactly as the hold estimates it (ceil(body bytes / 4)); no output."""
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": PROMPT})
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        with pytest.raises(TimeoutError):
            await session.post(
                relay.stack.gateway.make_url("/v1/chat/completions"),
                data=body,
                headers=_headers(relay, chunks="100", delay_ms="30"),
            )

    result = await _result(caplog)

    assert result["input_tokens"] == tokens_for(len(body)) > 0, result
    assert result["output_tokens"] == 0
    assert result["status"] == "client_disconnected" and result["ttfb_ms"] is None
    assert result["partial"] is True and result["usage_source"] == "estimated"
    await _assert_charged(db, "gpt-4o-mini", result)


async def _read_all(relay: Relay, path: str, body: dict[str, Any], **mock: str) -> list[SseEvent]:
    response = await relay.stack.gateway.post(
        path, data=orjson.dumps(body), headers=_headers(relay, **mock)
    )
    assert response.status == 200
    parser = SseParser()
    return parser.feed(await response.read()) + parser.close()


async def test_an_openai_chat_stream_cut_after_100_pieces_bills_the_text_not_the_json(
    relay: Relay, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Output pinned exactly to the 100 words read, which is within 100..200 tokens."""
    body = {"model": "gpt-4o-mini", "stream": True, "messages": PROMPT}
    events = await _read_all(relay, "/v1/chat/completions", body, chunks="200", reset_after="100")
    chunks = [p for p in _payloads(events) if "choices" in p]
    words = [
        choice["delta"]["content"]
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["delta"].get("content")
    ]
    assert len(words) == 100

    result = await _result(caplog)

    assert result["output_tokens"] == tokens_for(_text_bytes(words)), result
    assert 100 <= result["output_tokens"] <= 200
    assert result["status"] == "upstream_error" and result["partial"] is True
    assert result["usage_source"] == "estimated"
    await _assert_charged(db, "gpt-4o-mini", result)


async def test_an_openai_responses_stream_cut_after_100_pieces_bills_the_text_not_the_json(
    relay: Relay, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Output pinned exactly to the 100 deltas read, which is within 100..200 tokens."""
    body = {"model": "gpt-4o-mini", "stream": True, "input": "Tell me a long story"}
    events = await _read_all(relay, "/v1/responses", body, chunks="200", reset_after="100")
    words = [p["delta"] for p in _payloads(events) if p.get("type") == "response.output_text.delta"]
    assert len(words) == 100

    result = await _result(caplog)

    assert result["output_tokens"] == tokens_for(_text_bytes(words)), result
    assert 100 <= result["output_tokens"] <= 200
    assert result["status"] == "upstream_error" and result["partial"] is True
    await _assert_charged(db, "gpt-4o-mini", result)


async def test_a_whole_stream_is_billed_the_providers_count_and_is_not_partial(
    relay: Relay, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The control: a finished Anthropic stream is billed message_delta's usage exactly."""
    body = {"model": "claude-haiku-4-5", "max_tokens": 1000, "stream": True, "messages": PROMPT}
    events = await _read_all(relay, "/v1/messages", body, chunks="200")
    final = next(p for p in _payloads(events) if p["type"] == "message_delta")["usage"]

    result = await _result(caplog)

    assert result["status"] == "ok" and result["partial"] is False
    assert result["usage_source"] == "upstream"
    assert (result["input_tokens"], result["output_tokens"]) == (
        final["input_tokens"],
        final["output_tokens"],
    )
    await _assert_charged(db, "claude-haiku-4-5", result)


async def test_a_gemini_stream_cut_after_100_pieces_bills_input_so_far_and_the_text(
    relay: Relay, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Input is the last chunk's promptTokenCount, exactly; output the 100 words read, exactly
    (more than the 100 candidate tokens counted so far, which would also stand)."""
    body = {"contents": [{"role": "user", "parts": [{"text": "Tell me a long story"}]}]}
    events = await _read_all(
        relay,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        body,
        chunks="200",
        reset_after="100",
    )
    chunks = [p for p in _payloads(events) if "candidates" in p]
    words = [part["text"] for c in chunks for part in c["candidates"][0]["content"]["parts"]]
    assert len(words) == 100

    result = await _result(caplog)

    assert result["output_tokens"] == tokens_for(_text_bytes(words)) > 100, result
    assert result["input_tokens"] == chunks[-1]["usageMetadata"]["promptTokenCount"]
    assert result["status"] == "upstream_error" and result["partial"] is True
    await _assert_charged(db, "gemini-2.5-flash", result)
