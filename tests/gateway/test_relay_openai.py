"""The official OpenAI SDK through the gateway: chat, responses, embeddings, models."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from services.mockprovider import tokens
from tests.conftest import Stack
from tests.relay import Relay, relay_for, usage_results
from tests.scrape import scrape

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello"},
]
PROMPT = tokens.prompt_tokens(["Be brief.", "Say hello"])
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
]


@pytest.fixture
async def relay(stack: Stack) -> Relay:
    return await relay_for(stack)


@pytest.fixture
async def client(relay: Relay) -> AsyncIterator[openai.AsyncOpenAI]:
    async with _client(relay) as sdk:
        yield sdk


def _client(relay: Relay) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=relay.base_url + "/v1", api_key=relay.key, max_retries=0)


async def test_chat_completion(
    client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.prompt_tokens == PROMPT
    (result,) = await usage_results(caplog)
    assert result["status"] == "ok" and result["http_status"] == 200
    assert result["usage_source"] == "upstream" and result["stream"] is False
    assert result["input_tokens"] == PROMPT and result["output_tokens"] == 8
    assert result["requested_model"] == "gpt-4o-mini"
    assert result["user_id"] and result["channel_id"]
    assert result["ttfb_ms"] is not None and result["latency_ms"] >= result["ttfb_ms"]


async def test_chat_stream_hides_the_usage_chunk_it_added(
    client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    stream = await client.chat.completions.create(model="o4-mini", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices for chunk in chunks), "the added usage-only chunk leaked"
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    (result,) = await usage_results(caplog)
    assert result["stream"] is True and result["usage_source"] == "upstream"
    assert result["output_tokens"] == 8 + tokens.REASONING_TOKENS
    assert result["reasoning_tokens"] == tokens.REASONING_TOKENS


async def test_chat_stream_passes_usage_to_a_client_that_asked(
    client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Mock-Cache": "read"},
    )
    chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    cached = tokens.cached_portion(PROMPT)
    (result,) = await usage_results(caplog)
    assert result["cache_read_tokens"] == cached
    assert result["input_tokens"] == PROMPT - cached


async def test_chat_tool_call_streamed_and_not(client: openai.AsyncOpenAI) -> None:
    ask: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Use get_weather for Paris"}
    ]
    whole = await client.chat.completions.create(model="gpt-4o", messages=ask, tools=TOOLS)
    call = (whole.choices[0].message.tool_calls or [])[0]
    assert call.type == "function" and call.function.name == "get_weather"
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=ask, tools=TOOLS, stream=True
    )
    arguments = ""
    async for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            arguments += (delta.function.arguments if delta.function else None) or ""
    assert arguments == call.function.arguments


async def test_responses_streamed_and_not(
    client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    whole = await client.responses.create(model="gpt-4.1-mini", input="Say hello")
    assert whole.output_text and whole.usage is not None
    async with client.responses.stream(model="gpt-4.1-mini", input="Say hello") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == whole.output_text
    results = await usage_results(caplog)
    assert [r["endpoint"] for r in results] == ["openai_responses", "openai_responses"]
    assert results[0]["output_tokens"] == results[1]["output_tokens"] == whole.usage.output_tokens
    assert results[1]["stream"] is True and results[1]["usage_source"] == "upstream"


async def test_embeddings(client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    embedded = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embedded.data) == 2 and len(embedded.data[0].embedding) == 1536
    (result,) = await usage_results(caplog)
    assert result["input_tokens"] == embedded.usage.prompt_tokens


async def test_models_list_what_the_key_may_use(stack: Stack) -> None:
    relay = await relay_for(stack, models=["gpt-4o-mini", "claude-haiku-4-5"])
    async with _client(relay) as client:
        await _check_allowlist(client)


async def _check_allowlist(client: openai.AsyncOpenAI) -> None:
    listed = [model.id async for model in client.models.list()]
    assert listed == ["gpt-4o-mini"]
    assert (await client.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-4o")
    with pytest.raises(openai.PermissionDeniedError):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


async def test_relay_metrics(stack: Stack) -> None:
    relay = await relay_for(stack)
    async with _client(relay) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        async for _ in stream:
            pass
    text = await scrape(stack.gateway.app)
    assert (
        'tollgate_relay_requests_total{endpoint="openai_chat",gen_ai_request_model="gpt-4o-mini",'
        'http_status="200",status="ok"} 2.0' in text
    )
    assert 'gen_ai_server_time_to_first_token_seconds_count{endpoint="openai_chat"' in text
    assert (
        'tollgate_relay_tokens_total{gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input"'
        in text
    )
    assert "tollgate_holds_open 0.0" in text and "tollgate_spool_depth 0.0" in text
