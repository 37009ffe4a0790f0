"""The official Anthropic SDK through the gateway: messages, streams, tools, count_tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam

from services.mockprovider import tokens
from tests.conftest import Stack
from tests.relay import Relay, relay_for, usage_results

MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello"}]
PROMPT = tokens.prompt_tokens(["Be brief.", "Say hello"])
TOOLS: list[ToolParam] = [
    {
        "name": "lookup",
        "description": "Find a fact",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
]


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[anthropic.AsyncAnthropic]:
    relay = await relay_for(stack)
    async with _client(relay) as sdk:
        yield sdk


def _client(relay: Relay) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=relay.base_url, api_key=relay.key, max_retries=0)


async def test_message_and_usage(
    client: anthropic.AsyncAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system="Be brief.", messages=MESSAGES
    )
    assert message.content[0].type == "text"
    (result,) = await usage_results(caplog)
    assert result["endpoint"] == "anthropic_messages" and result["status"] == "ok"
    assert (result["input_tokens"], result["output_tokens"]) == (PROMPT, 8)


async def test_stream_with_cache_counts(
    client: anthropic.AsyncAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    async with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        system="Be brief.",
        messages=MESSAGES,
        extra_headers={"X-Mock-Cache": "write"},
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    (result,) = await usage_results(caplog)
    assert result["stream"] is True and result["usage_source"] == "upstream"
    written = final.usage.cache_creation_input_tokens
    assert written is not None and written > 0
    assert result["cache_write_tokens"] == written
    assert result["input_tokens"] == final.usage.input_tokens
    assert result["output_tokens"] == final.usage.output_tokens == 8


async def test_tool_use_streamed_and_not(client: anthropic.AsyncAnthropic) -> None:
    ask: list[MessageParam] = [{"role": "user", "content": "Use lookup please"}]
    whole = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=ask, tools=TOOLS
    )
    block = next(b for b in whole.content if b.type == "tool_use")
    async with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=ask, tools=TOOLS
    ) as stream:
        final = await stream.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert (streamed.name, streamed.input) == (block.name, block.input)


async def test_count_tokens_is_relayed_and_free(
    client: anthropic.AsyncAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    counted = await client.messages.count_tokens(
        model="claude-haiku-4-5", system="Be brief.", messages=MESSAGES
    )
    assert counted.input_tokens == PROMPT
    (result,) = await usage_results(caplog)
    assert result["endpoint"] == "anthropic_count_tokens"
    assert result["input_tokens"] == result["output_tokens"] == 0


async def test_models_list_in_anthropic_shape(client: anthropic.AsyncAnthropic) -> None:
    models = [model.id async for model in client.models.list()]
    assert "claude-haiku-4-5" in models and "gpt-4o-mini" not in models


async def test_errors_come_back_in_anthropic_shape(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        await client.messages.create(model="claude-none", max_tokens=10, messages=MESSAGES)
    assert missing.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": missing.value.body["error"]["message"]},  # type: ignore[index]
    }
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=MESSAGES,
            extra_headers={"X-Mock-Status": "429"},
        )
