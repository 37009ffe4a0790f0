"""The official google-genai SDK through the gateway: generate, stream, tools, models."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google import genai
from google.genai import client as genai_client
from google.genai import errors, types

from services.mockprovider import tokens
from tests.conftest import Stack
from tests.relay import relay_for, usage_results

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged"
    ":DeprecationWarning"
)

SYSTEM = "Be brief."
PROMPT = tokens.prompt_tokens([SYSTEM, "Say hello"])
CONFIG = types.GenerateContentConfig(system_instruction=SYSTEM)
LOOKUP = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="lookup",
            description="Find a fact",
            parameters=types.Schema(
                type=types.Type.OBJECT, properties={"q": types.Schema(type=types.Type.STRING)}
            ),
        )
    ]
)


@pytest.fixture(params=["v1beta", "v1"])
async def client(
    stack: Stack, request: pytest.FixtureRequest
) -> AsyncIterator[genai_client.AsyncClient]:
    relay = await relay_for(stack)
    options = types.HttpOptions(base_url=relay.base_url, api_version=request.param, timeout=5000)
    sdk = genai.Client(api_key=relay.key, http_options=options)
    yield sdk.aio
    await sdk.aio.aclose()


async def test_generate_and_usage(
    client: genai_client.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.models.generate_content(
        model="gemini-2.5-flash", contents="Say hello", config=CONFIG
    )
    assert response.text
    (result,) = await usage_results(caplog)
    assert result["endpoint"] == "gemini_generate"
    assert (result["input_tokens"], result["output_tokens"]) == (PROMPT, 8)


async def test_stream_with_thoughts(
    client: genai_client.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    chunks = [
        chunk
        async for chunk in await client.models.generate_content_stream(
            model="gemini-2.5-pro", contents="Say hello", config=CONFIG
        )
    ]
    assert "".join(chunk.text or "" for chunk in chunks)
    (result,) = await usage_results(caplog)
    assert result["endpoint"] == "gemini_stream" and result["stream"] is True
    assert result["output_tokens"] == 8 + tokens.REASONING_TOKENS
    assert result["reasoning_tokens"] == tokens.REASONING_TOKENS


async def test_function_call(client: genai_client.AsyncClient) -> None:
    config = types.GenerateContentConfig(
        tools=[LOOKUP],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    response = await client.models.generate_content(
        model="gemini-2.5-flash", contents="Use lookup for the answer", config=config
    )
    assert response.function_calls and response.function_calls[0].name == "lookup"
    chunks = [
        chunk
        async for chunk in await client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Use lookup for the answer", config=config
        )
    ]
    assert chunks[-1].function_calls == response.function_calls


async def test_count_tokens_and_models(client: genai_client.AsyncClient) -> None:
    counted = await client.models.count_tokens(model="gemini-2.5-flash", contents="Say hello")
    assert counted.total_tokens
    names = [model.name async for model in await client.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/gpt-4o-mini" not in names


async def test_errors_come_back_in_gemini_shape(client: genai_client.AsyncClient) -> None:
    with pytest.raises(errors.ClientError) as missing:
        await client.models.generate_content(model="gemini-none", contents="x")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
