"""The mock's instance-wide faults (`/mock/outage`) and its redirect route."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import pytest

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
KEY = {"Authorization": "Bearer sk-test"}


async def test_an_outage_fails_every_request_until_it_ends(http: aiohttp.ClientSession) -> None:
    async with http.put("/mock/outage", json={"controls": "status=503"}) as response:
        assert await response.json() == {"controls": "status=503", "refuse_keys": False}
    for _ in range(2):
        async with http.post("/v1/chat/completions", json=CHAT, headers=KEY) as response:
            assert response.status == 503
    async with http.delete("/mock/outage") as response:
        assert response.status == 204
    async with http.post("/v1/chat/completions", json=CHAT, headers=KEY) as response:
        assert response.status == 200


async def test_the_requests_own_controls_win_over_the_outage(http: aiohttp.ClientSession) -> None:
    await (await http.put("/mock/outage", json={"controls": "status=503"})).release()
    async with http.post(
        "/v1/chat/completions", json=dict(CHAT, model="gpt-4o-mini@status=429"), headers=KEY
    ) as response:
        assert response.status == 429


async def test_refused_keys_look_like_each_providers_401(
    http: aiohttp.ClientSession,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    await (await http.put("/mock/outage", json={"refuse_keys": True})).release()
    with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
        await openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
        await anthropic_client.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
        )


@pytest.mark.parametrize(
    "body",
    [{"controls": "status=200"}, {"controls": "nonsense=1"}, {"refuse": True}, [1]],
)
async def test_a_bad_outage_is_400(http: aiohttp.ClientSession, body: object) -> None:
    async with http.put("/mock/outage", json=body) as response:
        assert response.status == 400


async def test_redirect_points_at_the_metadata_address(http: aiohttp.ClientSession) -> None:
    async with http.get("/mock/redirect/v1/models", allow_redirects=False) as response:
        assert response.status == 307
        assert response.headers["Location"] == "http://169.254.169.254/latest/meta-data/v1/models"
