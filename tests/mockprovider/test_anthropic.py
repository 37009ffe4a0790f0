"""The Anthropic SDK against the mock: messages, streams, tools, count_tokens."""

from __future__ import annotations

import aiohttp
import anthropic
import orjson
import pytest
from anthropic.types import MessageParam, ToolParam

from services.mockprovider import tokens
from services.mockprovider.tokens import prompt_tokens

MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello"}]
PROMPT = prompt_tokens(["Be brief.", "Say hello"])
TOOLS: list[ToolParam] = [
    {
        "name": "lookup",
        "description": "Find a fact",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
]


async def test_message_text_and_usage(anthropic_client: anthropic.AsyncAnthropic) -> None:
    message = await anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system="Be brief.", messages=MESSAGES
    )
    assert message.model == "claude-haiku-4-5" and message.stop_reason == "end_turn"
    assert message.id.startswith("msg_01")
    block = message.content[0]
    assert block.type == "text" and len(block.text.split()) == 8
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (PROMPT, 8)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)


async def test_stream_events_and_cumulative_usage(
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    whole = await anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system="Be brief.", messages=MESSAGES
    )
    async with anthropic_client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        system="Be brief.",
        messages=MESSAGES,
        extra_headers={"X-Mock-Cache": "read"},
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("text") == 8 and "message_delta" in kinds
    assert final.id == whole.id
    assert [b.model_dump(exclude={"parsed_output"}) for b in final.content] == [
        b.model_dump() for b in whole.content
    ]
    cached = tokens.cached_portion(PROMPT)
    assert final.usage.cache_read_input_tokens == cached
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT - cached, 8)


async def test_stream_wire_event_order(http: aiohttp.ClientSession) -> None:
    body = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": MESSAGES, "stream": True}
    headers = {"x-api-key": "x", "anthropic-version": "2023-06-01", "X-Mock-Chunks": "2"}
    async with http.post("/v1/messages", json=body, headers=headers) as response:
        raw = (await response.read()).decode()
    events = [block.split("\n") for block in raw.split("\n\n") if block]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = orjson.loads(events[0][1].removeprefix("data: "))["message"]["usage"]
    assert start["output_tokens"] == 1  # a placeholder, as the real API sends
    delta = orjson.loads(events[6][1].removeprefix("data: "))["usage"]
    assert delta == {
        "input_tokens": prompt_tokens(["Say hello"]),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 2,
    }


async def test_tool_use_stream_and_not(anthropic_client: anthropic.AsyncAnthropic) -> None:
    messages: list[MessageParam] = [{"role": "user", "content": "Please lookup the answer"}]
    whole = await anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=messages,
        tools=TOOLS,
        extra_headers={"X-Mock-Cache": "write"},
    )
    block = whole.content[0]
    assert whole.stop_reason == "tool_use"
    assert block.type == "tool_use" and (block.name, block.input) == ("lookup", {"q": "mock"})
    prompt = prompt_tokens(["Please lookup the answer", "lookup: Find a fact"])
    written = tokens.cached_portion(prompt)
    assert whole.usage.cache_creation_input_tokens == written
    assert (whole.usage.input_tokens, whole.usage.output_tokens) == (prompt - written, 8)

    async with anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=messages, tools=TOOLS
    ) as stream:
        partials = [
            event.delta.partial_json
            async for event in stream
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta"
        ]
        final = await stream.get_final_message()
    assert "".join(partials) == '{"q":"mock"}' and partials[0] == ""
    assert final.content[0].model_dump() == block.model_dump()


async def test_tool_result_turn_gets_text(anthropic_client: anthropic.AsyncAnthropic) -> None:
    messages: list[MessageParam] = [
        {"role": "user", "content": "Please lookup the answer"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}],
        },
    ]
    message = await anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=messages, tools=TOOLS
    )
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"


async def test_max_tokens_stop(anthropic_client: anthropic.AsyncAnthropic) -> None:
    message = await anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=3, messages=MESSAGES
    )
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3


async def test_count_tokens(anthropic_client: anthropic.AsyncAnthropic) -> None:
    counted = await anthropic_client.messages.count_tokens(
        model="claude-haiku-4-5", system="Be brief.", messages=MESSAGES, tools=TOOLS
    )
    assert counted.input_tokens == prompt_tokens(["Be brief.", "Say hello", "lookup: Find a fact"])


@pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5' is deprecated:DeprecationWarning")
async def test_sonnet_4_5_is_served(anthropic_client: anthropic.AsyncAnthropic) -> None:
    message = await anthropic_client.messages.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=MESSAGES
    )
    assert message.model == "claude-sonnet-4-5"


async def test_models_and_unknown_model(anthropic_client: anthropic.AsyncAnthropic) -> None:
    names = [model.id async for model in anthropic_client.models.list()]
    assert names == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    model = await anthropic_client.models.retrieve("claude-haiku-4-5")
    assert model.display_name == "Claude Haiku 4.5"
    with pytest.raises(anthropic.NotFoundError) as caught:
        await anthropic_client.messages.create(model="claude-0", max_tokens=5, messages=MESSAGES)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: claude-0"},
        "request_id": caught.value.request_id,
    }


async def test_auth_version_and_shape_errors(http: aiohttp.ClientSession) -> None:
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": MESSAGES}
    async with http.post("/v1/messages", json=body) as response:
        assert response.status == 401
        error = await response.json()
        assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
    async with http.post("/v1/messages", json=body, headers={"x-api-key": "x"}) as response:
        assert response.status == 400
        assert "anthropic-version" in (await response.json())["error"]["message"]
    headers = {"Authorization": "Bearer token", "anthropic-version": "2099-01-01"}
    async with http.post("/v1/messages", json=body, headers=headers) as response:
        assert response.status == 200
    no_cap = {"model": "claude-haiku-4-5", "messages": MESSAGES}
    async with http.post("/v1/messages", json=no_cap, headers=headers) as response:
        assert response.status == 400
        error = await response.json()
        assert error["error"] == {
            "type": "invalid_request_error",
            "message": "max_tokens: Field required",
        }
