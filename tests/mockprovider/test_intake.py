"""Injected statuses, answered before any byte in each provider's error format."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import pytest
from google.genai import client as genai_client
from google.genai import errors, types

from tests.mockprovider.conftest import GENAI_SUBCLASS_WARNING


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_openai_injected_status(
    openai_client: openai.AsyncOpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as caught:
        await openai_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"X-Mock-Status": str(status)},
        )
    assert caught.value.status_code == status
    assert caught.value.response.headers.get("Retry-After") == ("1" if status == 429 else None)
    if status == 429:
        assert caught.value.code == "rate_limit_exceeded"


async def test_openai_status_from_model_suffix(openai_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await openai_client.responses.create(model="gpt-4o-mini@status=503", input="hi")
    assert caught.value.status_code == 503


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error")]
)
async def test_anthropic_injected_status(
    anthropic_client: anthropic.AsyncAnthropic, status: int, kind: str
) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        await anthropic_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Mock-Status": str(status)},
        )
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == kind


@GENAI_SUBCLASS_WARNING
@pytest.mark.parametrize(
    ("status", "name", "error"),
    [
        (429, "RESOURCE_EXHAUSTED", errors.ClientError),
        (500, "INTERNAL", errors.ServerError),
        (503, "UNAVAILABLE", errors.ServerError),
    ],
)
async def test_gemini_injected_status(
    gemini_client: genai_client.AsyncClient, status: int, name: str, error: type[errors.APIError]
) -> None:
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"X-Mock-Status": str(status)})
    )
    with pytest.raises(error) as caught:
        async for _chunk in await gemini_client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi", config=config
        ):
            pass
    assert (caught.value.code, caught.value.status) == (status, name)


async def test_get_endpoints_take_header_controls(http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Bearer x", "X-Mock-Status": "429"}
    async with http.get("/v1/models", headers=headers) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "1"
    headers = {"x-goog-api-key": "x", "X-Mock-Status": "503"}
    async with http.get("/v1beta/models", headers=headers) as response:
        assert response.status == 503
        assert (await response.json())["error"]["status"] == "UNAVAILABLE"


async def test_bad_control_is_a_400_in_the_provider_format(http: aiohttp.ClientSession) -> None:
    headers = {"x-api-key": "x", "anthropic-version": "2023-06-01", "X-Mock-Chunks": "lots"}
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []}
    async with http.post("/v1/messages", json=body, headers=headers) as response:
        assert response.status == 400
        error = (await response.json())["error"]
        assert error["type"] == "invalid_request_error" and "x-mock-chunks" in error["message"]
