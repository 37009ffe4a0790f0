"""The OpenAI SDK against the mock: chat, responses, embeddings, models."""

from __future__ import annotations

import aiohttp
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.responses import FunctionToolParam

from services.mockprovider import generation, tokens
from services.mockprovider.tokens import REASONING_TOKENS, embedding_tokens, prompt_tokens

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello"},
]
PROMPT = prompt_tokens(["Be brief.", "Say hello"])
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
    "additionalProperties": False,
}
CHAT_TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
    }
]
ARGUMENTS = '{"location":"mock"}'


async def test_chat_completion_text_and_usage(openai_client: openai.AsyncOpenAI) -> None:
    completion = await openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    digest = generation.request_digest(
        {"model": "gpt-4o-mini", "messages": MESSAGES}, "gpt-4o-mini"
    )
    assert completion.model == "gpt-4o-mini"
    assert completion.id == "chatcmpl-" + generation.ident(digest, "chat", 29)
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == "".join(generation.text_pieces(digest, 8))
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        PROMPT,
        8,
        PROMPT + 8,
    )
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0
    again = await openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert (again.id, again.choices[0].message.content) == (completion.id, choice.message.content)


async def test_chat_stream_with_usage_matches_non_stream(openai_client: openai.AsyncOpenAI) -> None:
    whole = await openai_client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    stream = await openai_client.chat.completions.create(
        model="o4-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Mock-Cache": "read"},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 8 + REASONING_TOKENS
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == tokens.cached_portion(PROMPT)


async def test_chat_stream_wire_usage_only_when_asked(http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Bearer x", "X-Mock-Chunks": "3"}
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    async with http.post("/v1/chat/completions", json=body, headers=headers) as response:
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        plain = (await response.read()).decode()
    events = plain.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [orjson.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert len(chunks) == 1 + 3 + 1 and all("usage" not in chunk for chunk in chunks)

    body["stream_options"] = {"include_usage": True}
    async with http.post("/v1/chat/completions", json=body, headers=headers) as response:
        events = (await response.read()).decode().split("\n\n")
    chunks = [orjson.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == PROMPT


async def test_chat_tool_call(openai_client: openai.AsyncOpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Use get_weather for Tokyo"}
    ]
    whole = await openai_client.chat.completions.create(
        model="gpt-4.1-mini", messages=messages, tools=CHAT_TOOLS
    )
    choice = whole.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", ARGUMENTS)
    assert whole.usage is not None
    expected_prompt = prompt_tokens(["Use get_weather for Tokyo", "get_weather: Weather"])
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (expected_prompt, 8)

    stream = await openai_client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=messages,
        tools=CHAT_TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas = [chunk async for chunk in stream]
    fragments = [
        tool.function.arguments or ""
        for chunk in deltas
        if chunk.choices
        for tool in chunk.choices[0].delta.tool_calls or []
        if tool.function is not None
    ]
    assert "".join(fragments) == ARGUMENTS and len(fragments) == 1 + 8
    first = deltas[0].choices[0].delta.tool_calls
    assert first is not None and first[0].id == call.id
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens == 8


async def test_chat_output_cap_truncates(openai_client: openai.AsyncOpenAI) -> None:
    completion = await openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, max_completion_tokens=3
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


async def test_responses_text_stream_and_usage(openai_client: openai.AsyncOpenAI) -> None:
    whole = await openai_client.responses.create(
        model="gpt-4o-mini", instructions="Be brief.", input="Say hello"
    )
    assert whole.status == "completed" and whole.model == "gpt-4o-mini"
    assert whole.usage is not None
    assert (whole.usage.input_tokens, whole.usage.output_tokens) == (PROMPT, 8)
    assert whole.usage.input_tokens_details.cached_tokens == 0
    assert whole.usage.output_tokens_details.reasoning_tokens == 0

    async with openai_client.responses.stream(
        model="gpt-4o-mini", instructions="Be brief.", input="Say hello"
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 8,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.output_text == whole.output_text and final.id == whole.id
    assert final.usage == whole.usage


async def test_responses_function_call_stream(openai_client: openai.AsyncOpenAI) -> None:
    tools: list[FunctionToolParam] = [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True}
    ]
    stream = await openai_client.responses.create(
        model="o4-mini",
        input="get_weather in Paris?",
        tools=tools,
        stream=True,
        extra_headers={"X-Mock-Chunks": "4"},
    )
    events = [event async for event in stream]
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert "".join(deltas) == ARGUMENTS and len(deltas) == 4
    completed = events[-1]
    assert completed.type == "response.completed"
    output = completed.response.output
    assert [item.type for item in output] == ["reasoning", "function_call"]
    call = output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    usage = completed.response.usage
    assert usage is not None and usage.output_tokens == 4 + REASONING_TOKENS
    assert usage.output_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_responses_incomplete_when_capped(openai_client: openai.AsyncOpenAI) -> None:
    response = await openai_client.responses.create(
        model="gpt-4o-mini", input="Say hello", max_output_tokens=2
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 2


async def test_embeddings_base64_and_float(openai_client: openai.AsyncOpenAI) -> None:
    texts = ["hello world", "naïve café"]
    default = await openai_client.embeddings.create(model="text-embedding-3-small", input=texts)
    floats = await openai_client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    assert [len(item.embedding) for item in default.data] == [1536, 1536]
    for a, b in zip(default.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, rel=1e-6)
    assert default.usage.prompt_tokens == embedding_tokens(texts) == default.usage.total_tokens
    short = await openai_client.embeddings.create(
        model="text-embedding-3-small", input="x", dimensions=256
    )
    assert len(short.data[0].embedding) == 256


async def test_models_list_and_retrieve(openai_client: openai.AsyncOpenAI) -> None:
    names = [model.id async for model in openai_client.models.list()]
    assert {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini", "text-embedding-3-small"} <= set(
        names
    )
    assert not any(name.startswith(("claude", "gemini")) for name in names)
    model = await openai_client.models.retrieve("o4-mini")
    assert (model.id, model.owned_by) == ("o4-mini", "system")
    with pytest.raises(openai.NotFoundError):
        await openai_client.models.retrieve("gpt-2")


async def test_unknown_model_is_a_404(openai_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await openai_client.chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        await openai_client.embeddings.create(model="gpt-4o-mini", input="x")


async def test_missing_key_and_bad_json(http: aiohttp.ClientSession) -> None:
    async with http.post("/v1/chat/completions", json={}) as response:
        assert response.status == 401
        error = (await response.json())["error"]
        assert error["type"] == "invalid_request_error" and "API key" in error["message"]
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
    async with http.post("/v1/chat/completions", data=b"{", headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["error"]["type"] == "invalid_request_error"
    async with http.get("/v1/nowhere", headers=headers) as response:
        assert response.status == 404 and "error" in await response.json()
