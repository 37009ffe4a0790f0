"""Header filtering between client, gateway and upstream, in both directions.

Inputs come as plain dicts with mixed casing and as `CIMultiDict`s with
repeated headers, as aiohttp hands them over.
"""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from services.gateway.edge.headers import (
    ANTHROPIC_VERSION,
    CLIENT_RESPONSE_HEADERS,
    client_response_headers,
    upstream_request_headers,
)
from services.gateway.relay.apis import Family

KEY = "sk-provider-secret"
CLIENT_KEY = "tg-client-key"


def upstream(
    headers: dict[str, str] | CIMultiDict[str], family: Family = Family.OPENAI
) -> dict[str, str]:
    return upstream_request_headers(headers, family, KEY)


@pytest.mark.parametrize(
    "name",
    [
        "Connection",
        "Keep-Alive",
        "Proxy-Authorization",
        "Proxy-Connection",
        "Proxy-Anything",
        "TE",
        "Trailer",
        "Trailers",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
        "Expect",
    ],
)
def test_hop_by_hop_headers_are_dropped(name: str) -> None:
    sent = upstream({name: "value", "User-Agent": "sdk/1"})
    assert name.lower() not in sent
    assert sent["user-agent"] == "sdk/1"


def test_headers_the_connection_header_names_are_dropped() -> None:
    sent = upstream({"Connection": "keep-alive, X-Hop", "X-Hop": "1", "X-Stay": "2"})
    assert "x-hop" not in sent
    assert sent["x-stay"] == "2"


@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize(
    "name", ["Authorization", "x-api-key", "X-Goog-Api-Key", "api-key", "Cookie"]
)
def test_client_credentials_never_reach_the_upstream(name: str, family: Family) -> None:
    value = f"Bearer {CLIENT_KEY}" if name == "Authorization" else CLIENT_KEY
    sent = upstream({name: value}, family)
    assert CLIENT_KEY not in " ".join(sent.values())
    assert "cookie" not in sent


def test_openai_gets_a_bearer_credential() -> None:
    sent = upstream(CIMultiDict({"authorization": f"Bearer {CLIENT_KEY}"}), Family.OPENAI)
    assert sent["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in sent and "x-goog-api-key" not in sent


def test_anthropic_gets_x_api_key_and_keeps_its_version_and_betas() -> None:
    client = {
        "X-Api-Key": CLIENT_KEY,
        "Authorization": f"Bearer {CLIENT_KEY}",
        "anthropic-version": "2023-01-01",
        "anthropic-beta": "prompt-caching-2024-07-31",
    }
    sent = upstream(client, Family.ANTHROPIC)
    assert sent["x-api-key"] == KEY
    assert "authorization" not in sent
    assert sent["anthropic-version"] == "2023-01-01"
    assert sent["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_anthropic_version_defaults_when_absent() -> None:
    assert upstream({}, Family.ANTHROPIC)["anthropic-version"] == ANTHROPIC_VERSION == "2023-06-01"
    assert "anthropic-version" not in upstream({}, Family.OPENAI)


def test_gemini_gets_x_goog_api_key() -> None:
    sent = upstream(
        {"x-goog-api-key": CLIENT_KEY, "x-goog-api-client": "genai-py/1"}, Family.GEMINI
    )
    assert sent["x-goog-api-key"] == KEY
    assert sent["x-goog-api-client"] == "genai-py/1"
    assert "authorization" not in sent


@pytest.mark.parametrize(
    "name",
    [
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "Forwarded",
        "X-Real-IP",
        "X-Tollgate-User",
        "x-tollgate-internal-token",
        "OpenAI-Organization",
        "OpenAI-Project",
        "X-Goog-User-Project",
    ],
)
def test_network_identity_internal_and_billing_account_headers_are_dropped(name: str) -> None:
    assert upstream({name: "value"}) == {
        "content-type": "application/json",
        "accept-encoding": "identity",
        "authorization": f"Bearer {KEY}",
    }


def test_mock_controls_and_ordinary_headers_pass() -> None:
    client = {
        "X-Mock-Status": "503",
        "x-mock-delay-ms": "10",
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "text/event-stream",
        "User-Agent": "OpenAI/Python 1.0",
        "OpenAI-Beta": "assistants=v2",
        "X-Stainless-Lang": "python",
    }
    sent = upstream(client)
    for name, value in client.items():
        assert sent[name.lower()] == value


def test_accept_encoding_is_identity_whatever_the_client_asked() -> None:
    assert upstream({"Accept-Encoding": "gzip, br"})["accept-encoding"] == "identity"
    assert upstream({})["accept-encoding"] == "identity"


def test_content_type_defaults_to_json() -> None:
    assert upstream({})["content-type"] == "application/json"
    assert upstream({"content-type": "text/plain"})["content-type"] == "text/plain"


def test_names_are_lower_case_and_repeats_are_joined() -> None:
    client: CIMultiDict[str] = CIMultiDict()
    client.add("Anthropic-Beta", "a")
    client.add("anthropic-beta", "b")
    client.add("AUTHORIZATION", "Bearer one")
    client.add("authorization", "Bearer two")
    sent = upstream(client, Family.ANTHROPIC)
    assert sent["anthropic-beta"] == "a, b"
    assert all(name == name.lower() for name in sent)
    assert "one" not in " ".join(sent.values()) and "two" not in " ".join(sent.values())


def test_the_client_headers_are_not_modified() -> None:
    client = CIMultiDict({"Authorization": f"Bearer {CLIENT_KEY}", "Host": "gw"})
    upstream(client)
    assert client["authorization"] == f"Bearer {CLIENT_KEY}"
    assert client["host"] == "gw"


# ---- upstream -> client --------------------------------------------------------

UPSTREAM_ANSWER = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Retry-After": "3",
    "retry-after-ms": "2500",
    "X-Accel-Buffering": "no",
    "Content-Length": "120",
    "Content-Encoding": "gzip",
    "Transfer-Encoding": "chunked",
    "Connection": "keep-alive",
    "Set-Cookie": "__cf_bm=abc; path=/",
    "Server": "cloudflare",
    "Date": "Mon, 01 Jan 2024 00:00:00 GMT",
    "x-request-id": "req_123",
    "request-id": "req_456",
    "CF-RAY": "8a1b-AMS",
    "openai-organization": "operator-org",
    "openai-project": "proj_abc",
    "openai-processing-ms": "120",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-tokens": "149984",
    "anthropic-ratelimit-tokens-remaining": "4000",
    "anthropic-organization-id": "org-uuid",
    "x-goog-api-key": KEY,
    "Authorization": f"Bearer {KEY}",
    "Alt-Svc": 'h3=":443"',
    "Strict-Transport-Security": "max-age=31536000",
}


def test_only_the_allowlist_reaches_the_client() -> None:
    assert client_response_headers(UPSTREAM_ANSWER) == {
        "content-type": "text/event-stream; charset=utf-8",
        "retry-after": "3",
        "retry-after-ms": "2500",
        "x-accel-buffering": "no",
    }
    assert set(client_response_headers(UPSTREAM_ANSWER)) == CLIENT_RESPONSE_HEADERS


def test_upstream_credentials_and_account_never_reach_the_client() -> None:
    returned = client_response_headers(CIMultiDict(UPSTREAM_ANSWER))
    values = " ".join(returned.values())
    assert KEY not in values
    assert "operator-org" not in values and "org-uuid" not in values
    assert not any("ratelimit" in name for name in returned)


def test_response_filtering_is_case_insensitive() -> None:
    upstream_headers: CIMultiDict[str] = CIMultiDict()
    upstream_headers.add("CONTENT-TYPE", "application/json")
    upstream_headers.add("SET-COOKIE", "a=1")
    upstream_headers.add("set-cookie", "b=2")
    assert client_response_headers(upstream_headers) == {"content-type": "application/json"}
