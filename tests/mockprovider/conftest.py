"""The mock provider on loopback, and the official SDKs pointed at it.

SDK retries are off so injected failures surface at once. google-genai's
aiohttp transport subclasses `aiohttp.ClientSession`, which aiohttp answers
with a DeprecationWarning the test cannot avoid on that (default) path;
modules that drive google-genai carry `GENAI_SUBCLASS_WARNING`, which ignores
exactly that warning.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from aiohttp.test_utils import TestServer
from google import genai
from google.genai import client as genai_client
from google.genai import types
from pytest_aiohttp import AiohttpServer

from services.mockprovider.app import create_app
from services.mockprovider.settings import Settings

GENAI_SUBCLASS_WARNING = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged"
    ":DeprecationWarning"
)


@pytest.fixture
async def mock_server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_app(Settings()))


@pytest.fixture
async def openai_client(mock_server: TestServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=str(mock_server.make_url("/v1")), api_key="x", max_retries=0, timeout=5
    ) as client:
        yield client


@pytest.fixture
async def anthropic_client(mock_server: TestServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=str(mock_server.make_url("")), api_key="x", max_retries=0, timeout=5
    ) as client:
        yield client


def gemini_options(server: TestServer, **extra: Any) -> types.HttpOptions:
    return types.HttpOptions(base_url=str(server.make_url("")), timeout=5000, **extra)


@pytest.fixture
async def gemini_client(mock_server: TestServer) -> AsyncIterator[genai_client.AsyncClient]:
    client = genai.Client(api_key="x", http_options=gemini_options(mock_server))
    yield client.aio
    await client.aio.aclose()


@pytest.fixture
async def http(mock_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client for byte-level checks of the wire format."""
    async with aiohttp.ClientSession(base_url=str(mock_server.make_url(""))) as session:
        yield session


async def stats(session: aiohttp.ClientSession) -> dict[str, Any]:
    async with session.get("/mock/stats") as response:
        body: dict[str, Any] = await response.json()
        return body
