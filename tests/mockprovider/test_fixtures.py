"""Recorded responses replayed byte for byte, with their status and type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from services.mockprovider.fixtures import FixtureStore
from services.mockprovider.settings import DEFAULT_FIXTURES

INDEX: list[dict[str, Any]] = orjson.loads((DEFAULT_FIXTURES / "index.json").read_bytes())
ENDPOINTS = {
    "openai": ("/v1/chat/completions", {"Authorization": "Bearer x"}),
    "anthropic": ("/v1/messages", {"x-api-key": "x", "anthropic-version": "2023-06-01"}),
    "gemini": ("/v1beta/models/gemini-2.5-flash:generateContent", {"x-goog-api-key": "x"}),
}


@pytest.mark.parametrize("entry", INDEX, ids=lambda entry: str(entry["file"]))
async def test_every_recording_replays_exactly(
    http: aiohttp.ClientSession, entry: dict[str, Any]
) -> None:
    path, headers = ENDPOINTS[entry["provider"]]
    headers = {**headers, "X-Mock-Fixture": entry["file"]}
    async with http.post(path, json={"model": "gpt-4o-mini"}, headers=headers) as response:
        assert response.status == entry["http_status"]
        assert response.headers["Content-Type"] == entry["content_type"]
        assert await response.read() == (DEFAULT_FIXTURES / entry["file"]).read_bytes()


async def test_sdk_parses_a_replayed_stream(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "What is 4200 + 42?"}],
        stream=True,
        extra_headers={"X-Mock-Fixture": "openai_chat/stream_include_usage_text.sse"},
    )
    chunks = [chunk async for chunk in stream]
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (16, 10)


async def test_replay_honours_reset(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.responses.create(
        model="gpt-4o-mini@fixture=openai_responses/stream_function_call.sse,reset=4",
        input="hi",
        stream=True,
    )
    kinds: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        async for event in stream:
            kinds.append(event.type)
    assert kinds[:3] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]
    assert len(kinds) == 4


@pytest.mark.parametrize(
    ("name", "status"),
    [("../../DESIGN.md", 400), ("/etc/passwd", 400), ("openai_chat/missing.sse", 404)],
)
async def test_bad_fixture_names(http: aiohttp.ClientSession, name: str, status: int) -> None:
    headers = {"Authorization": "Bearer x", "X-Mock-Fixture": name}
    async with http.post("/v1/chat/completions", json={"model": "x"}, headers=headers) as response:
        assert response.status == status
        assert "error" in await response.json()


def test_files_missing_from_the_index_get_defaults(tmp_path: Path) -> None:
    (tmp_path / "a.sse").write_bytes(b"data: 1\n\n")
    (tmp_path / "b.json").write_bytes(b"{}")
    store = FixtureStore(tmp_path)
    assert store.load("a.sse").is_sse
    recording = store.load("b.json")
    assert (recording.status, recording.content_type) == (200, "application/json")
