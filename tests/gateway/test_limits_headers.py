"""Rate-limit headers in each client family's own words (DESIGN 13), on admitted
answers and on 429s; none when no limit applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from tests.conftest import Stack
from tests.gateway.limited import CHAT, LimitedKey, limited_key

ANTHROPIC = {
    "model": "claude-haiku-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Say hello"}],
}
GEMINI = {"contents": [{"parts": [{"text": "Say hello"}]}]}
LIMITS = {"rpm": 2, "tpm": 100_000}


async def _call(
    http: aiohttp.ClientSession, stack: Stack, limited: LimitedKey, family: str
) -> tuple[int, dict[str, str], dict[str, Any]]:
    body: Any
    if family == "openai":
        path, body, headers = "/v1/chat/completions", CHAT, limited.headers
    elif family == "anthropic":
        path, body = "/v1/messages", ANTHROPIC
        headers = {"x-api-key": limited.key, "anthropic-version": "2023-06-01"}
    else:
        path, body = "/v1beta/models/gemini-2.5-flash:generateContent", GEMINI
        headers = {"x-goog-api-key": limited.key}
    async with http.post(str(stack.gateway.make_url(path)), json=body, headers=headers) as response:
        return response.status, dict(response.headers), orjson.loads(await response.read())


async def test_openai_answers_carry_x_ratelimit_headers(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db, key_limits=LIMITS)
    async with aiohttp.ClientSession() as http:
        answers = [await _call(http, stack, limited, "openai") for _ in range(3)]
    (first, headers, _), (second, _, _), (third, refused, body) = answers
    assert (first, second, third) == (200, 200, 429)
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "1"
    assert headers["x-ratelimit-reset-requests"] == "30s"
    assert headers["x-ratelimit-limit-tokens"] == "100000"
    assert 100_000 - 200 < int(headers["x-ratelimit-remaining-tokens"]) < 100_000
    assert headers["x-ratelimit-reset-tokens"].endswith("ms")  # about 60 ms of tokens taken
    assert body["error"]["message"] == "rate limit: 2 requests per minute for this key"
    assert refused["Retry-After"] == "30"
    assert refused["x-ratelimit-remaining-requests"] == "0"
    reset = refused["x-ratelimit-reset-requests"]  # when the first call's request is back
    assert reset.endswith("s") and 28 < float(reset.removesuffix("s")) <= 30, reset


async def test_anthropic_answers_carry_anthropic_ratelimit_headers(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db, key_limits=LIMITS)
    async with aiohttp.ClientSession() as http:
        answers = [await _call(http, stack, limited, "anthropic") for _ in range(3)]
    (first, headers, _), (second, _, _), (third, refused, body) = answers
    assert (first, second, third) == (200, 200, 429)
    assert headers["anthropic-ratelimit-requests-limit"] == "2"
    assert headers["anthropic-ratelimit-requests-remaining"] == "1"
    reset = datetime.fromisoformat(headers["anthropic-ratelimit-requests-reset"])
    assert reset.tzinfo is not None
    now = datetime.now(UTC)
    assert now + timedelta(seconds=28) < reset <= now + timedelta(seconds=31)
    assert headers["anthropic-ratelimit-tokens-limit"] == "100000"
    assert "anthropic-ratelimit-tokens-remaining" in headers
    assert body == {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "rate limit: 2 requests per minute for this key",
        },
    }
    assert 1 <= int(refused["Retry-After"]) <= 30
    assert refused["anthropic-ratelimit-requests-remaining"] == "0"


async def test_gemini_answers_carry_retry_after_only(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db, key_limits=LIMITS)
    async with aiohttp.ClientSession() as http:
        answers = [await _call(http, stack, limited, "gemini") for _ in range(3)]
    (first, headers, _), (second, _, _), (third, refused, body) = answers
    assert (first, second, third) == (200, 200, 429)
    assert not [name for name in headers if "ratelimit" in name.lower()]
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["message"] == "rate limit: 2 requests per minute for this key"
    assert 1 <= int(refused["Retry-After"]) <= 30
    assert not [name for name in refused if "ratelimit" in name.lower()]


async def test_no_limit_no_headers(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db)
    async with aiohttp.ClientSession() as http:
        for family in ("openai", "anthropic"):
            status, headers, _ = await _call(http, stack, limited, family)
            assert status == 200
            assert not [name for name in headers if "ratelimit" in name.lower()]


async def test_the_tightest_limit_is_the_one_shown(stack: Stack, db: Any) -> None:
    limited = await limited_key(stack, db, key_limits={"rpm": 5}, user_limits={"rpm": 3})
    async with aiohttp.ClientSession() as http:
        status, headers, _ = await _call(http, stack, limited, "openai")
        assert status == 200
        assert headers["x-ratelimit-limit-requests"] == "3"
        assert headers["x-ratelimit-remaining-requests"] == "2"
        for _ in range(2):
            assert (await _call(http, stack, limited, "openai"))[0] == 200
        status, _, body = await _call(http, stack, limited, "openai")
    assert status == 429
    assert body["error"]["message"] == "rate limit: 3 requests per minute for this account"
