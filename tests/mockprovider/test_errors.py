"""Which format an error goes back in, and the body each provider uses."""

from __future__ import annotations

import pytest

from services.mockprovider.catalog import Provider
from services.mockprovider.errors import MockError, error_body, provider_for


@pytest.mark.parametrize(
    ("path", "headers", "query", "provider"),
    [
        ("/v1/chat/completions", {}, {}, Provider.OPENAI),
        ("/v1/models", {}, {}, Provider.OPENAI),
        ("/v1/models", {"anthropic-version": "2023-06-01"}, {}, Provider.ANTHROPIC),
        ("/v1/models", {"x-goog-api-key": "k"}, {}, Provider.GEMINI),
        ("/v1/models/gemini-2.5-flash", {}, {"key": "k"}, Provider.GEMINI),
        ("/v1/models/gemini-2.5-flash:generateContent", {}, {}, Provider.GEMINI),
        ("/v1/messages/count_tokens", {}, {}, Provider.ANTHROPIC),
        ("/v1beta/models", {}, {}, Provider.GEMINI),
    ],
)
def test_provider_for(
    path: str, headers: dict[str, str], query: dict[str, str], provider: Provider
) -> None:
    assert provider_for(path, headers, query) is provider


def test_error_bodies() -> None:
    error = MockError(429, "slow down")
    assert error_body(Provider.OPENAI, error, "r") == {
        "error": {
            "message": "slow down",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert error_body(Provider.ANTHROPIC, error, "r") == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
        "request_id": "r",
    }
    assert error_body(Provider.GEMINI, error, "r") == {
        "error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}
    }
    teapot = MockError(418, "odd")
    assert error_body(Provider.OPENAI, teapot, "r")["error"]["type"] == "invalid_request_error"
    assert error_body(Provider.ANTHROPIC, MockError(502, "x"), "r")["error"]["type"] == "api_error"
    assert error_body(Provider.GEMINI, MockError(502, "x"), "r")["error"]["status"] == "INTERNAL"
