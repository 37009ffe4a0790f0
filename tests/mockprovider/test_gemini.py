"""The google-genai SDK against the mock: generate, stream, tools, models."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from google import genai
from google.genai import client as genai_client
from google.genai import errors, types

from services.mockprovider.tokens import REASONING_TOKENS, cached_portion, prompt_tokens
from tests.mockprovider.conftest import GENAI_SUBCLASS_WARNING, gemini_options

pytestmark = GENAI_SUBCLASS_WARNING

SYSTEM = "Be brief."
PROMPT = prompt_tokens([SYSTEM, "Say hello"])
LOOKUP = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="lookup",
            description="Find a fact",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={
                    "q": types.Schema(type=types.Type.STRING),
                    "n": types.Schema(type=types.Type.INTEGER),
                },
            ),
        )
    ]
)


async def test_generate_text_and_usage(gemini_client: genai_client.AsyncClient) -> None:
    config = types.GenerateContentConfig(system_instruction=SYSTEM)
    response = await gemini_client.models.generate_content(
        model="gemini-2.5-flash", contents="Say hello", config=config
    )
    assert response.text is not None and len(response.text.split()) == 8
    assert response.model_version == "gemini-2.5-flash"
    candidate = (response.candidates or [])[0]
    assert candidate.finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (PROMPT, 8)
    assert usage.total_token_count == PROMPT + 8
    assert usage.thoughts_token_count is None and usage.cached_content_token_count is None


async def test_pro_reports_thoughts_and_cache(gemini_client: genai_client.AsyncClient) -> None:
    config = types.GenerateContentConfig(
        system_instruction=SYSTEM, http_options=types.HttpOptions(headers={"X-Mock-Cache": "read"})
    )
    response = await gemini_client.models.generate_content(
        model="gemini-2.5-pro", contents="Say hello", config=config
    )
    usage = response.usage_metadata
    assert usage is not None
    assert usage.thoughts_token_count == REASONING_TOKENS
    assert usage.cached_content_token_count == cached_portion(PROMPT)
    assert usage.total_token_count == PROMPT + 8 + REASONING_TOKENS


async def test_stream_matches_whole_answer(gemini_client: genai_client.AsyncClient) -> None:
    config = types.GenerateContentConfig(system_instruction=SYSTEM)
    whole = await gemini_client.models.generate_content(
        model="gemini-2.5-flash", contents="Say hello", config=config
    )
    chunks = [
        chunk
        async for chunk in await gemini_client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Say hello", config=config
        )
    ]
    assert len(chunks) == 8
    assert "".join(chunk.text or "" for chunk in chunks) == whole.text
    last = chunks[-1].usage_metadata
    assert last is not None and last.candidates_token_count == 8
    assert last.prompt_token_count == PROMPT
    assert [(c.candidates or [])[0].finish_reason for c in chunks][-1] == types.FinishReason.STOP


async def test_function_call(gemini_client: genai_client.AsyncClient) -> None:
    config = types.GenerateContentConfig(
        tools=[LOOKUP],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    response = await gemini_client.models.generate_content(
        model="gemini-2.5-flash", contents="Use lookup for the answer", config=config
    )
    calls = response.function_calls
    assert calls is not None and len(calls) == 1
    assert (calls[0].name, calls[0].args) == ("lookup", {"q": "mock", "n": 42})
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == prompt_tokens(
        ["Use lookup for the answer", "lookup: Find a fact"]
    )
    assert usage.candidates_token_count == 8  # argument pieces, though sent in one event
    chunks = [
        chunk
        async for chunk in await gemini_client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Use lookup for the answer", config=config
        )
    ]
    assert len(chunks) == 1 and chunks[0].function_calls == calls


async def test_v1beta_suffix_and_max_tokens(mock_server: TestServer) -> None:
    client = genai.Client(
        api_key="x", http_options=gemini_options(mock_server, api_version="v1beta")
    )
    try:
        response = await client.aio.models.generate_content(
            model="gemini-2.5-flash@chunks=5",
            contents="Say hello",
            config=types.GenerateContentConfig(max_output_tokens=3),
        )
    finally:
        await client.aio.aclose()
    assert response.model_version == "gemini-2.5-flash"
    assert (response.candidates or [])[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count == 3


async def test_count_tokens_and_models(gemini_client: genai_client.AsyncClient) -> None:
    counted = await gemini_client.models.count_tokens(model="gemini-2.5-flash", contents="hello")
    assert counted.total_tokens == prompt_tokens(["hello"])
    model = await gemini_client.models.get(model="gemini-2.5-pro")
    assert (model.name, model.output_token_limit) == ("models/gemini-2.5-pro", 65536)
    names = [model.name async for model in await gemini_client.models.list()]
    assert names == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]


async def test_unknown_model(gemini_client: genai_client.AsyncClient) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await gemini_client.models.generate_content(model="gemini-0", contents="hi")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


async def test_credentials_and_sse_framing(http: aiohttp.ClientSession) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    async with http.post(path, json=body) as response:
        assert response.status == 401
        assert (await response.json())["error"]["status"] == "UNAUTHENTICATED"
    headers = {"X-Mock-Chunks": "2"}
    async with http.post(path + "&key=x", json=body, headers=headers) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        raw = await response.read()
    events = raw.split(b"\r\n\r\n")
    assert len(events) == 3 and events[-1] == b""
    assert all(event.startswith(b'data: {"candidates"') for event in events[:2])
    async with http.post(
        "/v1beta/models/gemini-2.5-flash:embedContent", json=body, headers={"x-goog-api-key": "x"}
    ) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == 404
