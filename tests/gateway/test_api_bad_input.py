"""Bad input on `/api/*` gets a 4xx JSON error that says what is wrong."""

from __future__ import annotations

import base64
import io
from typing import Any

import orjson
import pytest

from tests.accounts import PASSWORD, Account, sign_up
from tests.conftest import Stack


async def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert "Traceback" not in str(body)
    error: dict[str, Any] = body["error"]
    return error


async def test_malformed_json_is_400(stack: Stack) -> None:
    for raw in (b"{", b"not json", b'{"email": }'):
        response = await stack.gateway.post(
            "/api/auth/signup", data=raw, headers={"Content-Type": "application/json"}
        )
        error = await _error(response, 400)
        assert "not valid JSON" in error["message"]


async def test_bytes_that_are_not_utf8_are_422_without_echo(stack: Stack) -> None:
    for raw in (
        b"\xff\xfe",
        b'{"login": "a\xc3(b", "password": "x"}',
        b'{"login": "\xed\xa0\x80"}',
    ):
        response = await stack.gateway.post(
            "/api/auth/login", data=raw, headers={"Content-Type": "application/json"}
        )
        error = await _error(response, 422)
        assert error["message"] == "request body is not valid UTF-8"
        assert "\ufffd" not in str(error) and "(b" not in str(error)


async def test_non_object_and_empty_bodies_are_400(stack: Stack) -> None:
    for raw, reason in ((b"[1, 2]", "must be a JSON object"), (b"", "empty"), (b"42", "object")):
        response = await stack.gateway.post("/api/auth/login", data=raw)
        assert reason in (await _error(response, 400))["message"]


async def test_wrong_types_and_missing_fields_are_422_with_each_field(stack: Stack) -> None:
    response = await stack.gateway.post("/api/auth/signup", json={"email": 42, "username": ["x"]})
    error = await _error(response, 422)
    assert "email: must be a string" in error["details"]
    assert "username: must be a string" in error["details"]
    assert "password: required" in error["details"]
    account = await sign_up(stack.gateway)
    response = await stack.gateway.post(
        "/api/keys",
        json={"name": 1, "models": "gpt-4o", "expires_at": "tomorrow"},
        headers=account.headers,
    )
    details = (await _error(response, 422))["details"]
    assert any(d.startswith("name:") for d in details)
    assert any(d.startswith("models:") for d in details)
    assert any(d.startswith("expires_at:") for d in details)


async def test_bodies_over_one_mebibyte_are_413(stack: Stack) -> None:
    big = b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    response = await stack.gateway.post("/api/auth/signup", data=io.BytesIO(big))
    await _error(response, 413)

    async def chunks() -> Any:
        for _ in range(20):
            yield b"a" * 65536

    chunked = await stack.gateway.post("/api/auth/signup", data=chunks())
    await _error(chunked, 413)


async def test_unknown_routes_and_methods_are_json_4xx(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    await _error(await stack.gateway.get("/api/nowhere", headers=account.headers), 404)
    # Other paths are the console's (tests/console); these prefixes never are.
    await _error(await stack.gateway.get("/.well-known/nowhere"), 404)
    await _error(await stack.gateway.get("/metrics"), 404)
    await _error(await stack.gateway.put("/api/me", json={}, headers=account.headers), 405)


# ---- text and times from clients (issue 15: each was a 500 on 0c207e1) ---------

NUL = "a\u0000b"
PAST_THE_CALENDAR = "9999-12-31T23:59:59-14:00"  # 10000-01-01 in UTC
RATES = {"input": "1", "output": "2", "cache_read": "0", "cache_write": "0"}
CHANNEL = {
    "name": "c",
    "kind": "openai",
    "base_url": "http://127.0.0.1:9",
    "api_key": "sk-x",
    "models": ["gpt-4o"],
    "allow_private_network": True,
}


async def _refused(response: Any, field: str) -> dict[str, Any]:
    """A 422 naming `field`, quoting no client string."""
    text = await response.text()
    assert response.status == 422, text
    assert "\\u0000" not in text and "a\x00b" not in text
    error = await _error(response, 422)
    assert any(detail.startswith(f"{field}:") for detail in error.get("details", [])), error
    return error


async def test_a_nul_in_a_login_is_422_without_a_credential(stack: Stack) -> None:
    response = await stack.gateway.post("/api/auth/login", json={"login": NUL, "password": "x"})
    await _refused(response, "login")


async def test_a_nul_at_sign_up_is_422(stack: Stack) -> None:
    response = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": "a\u0000b@example.com", "username": "nulluser", "password": PASSWORD},
    )
    await _refused(response, "email")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": NUL}, "name"),
        ({"name": "k", "models": ["gpt-4o", NUL]}, "models"),
        ({"name": "k", "expires_at": PAST_THE_CALENDAR}, "expires_at"),
        ({"name": "k", "expires_at": "9999-12-31T23:59:59Z"}, "expires_at"),
    ],
)
async def test_a_key_with_a_nul_or_past_the_calendar_is_422(
    stack: Stack, body: dict[str, Any], field: str
) -> None:
    account = await sign_up(stack.gateway)
    response = await stack.gateway.post("/api/keys", json=body, headers=account.headers)
    await _refused(response, field)


async def test_key_limits_at_the_edges(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    long_model = await stack.gateway.post(
        "/api/keys", json={"name": "k", "models": ["m" * 201]}, headers=account.headers
    )
    await _refused(long_model, "models")
    far = await stack.gateway.post(
        "/api/keys",
        json={"name": "k", "models": ["m" * 200], "expires_at": "9999-01-01T00:00:00Z"},
        headers=account.headers,
    )
    assert far.status == 201, await far.text()


@pytest.mark.parametrize("field", ["reason", "idempotency_key"])
async def test_a_credit_with_a_nul_is_422(stack: Stack, admin: Account, field: str) -> None:
    user = await sign_up(stack.gateway)
    good = {"user_id": user.id, "amount": "1", "reason": "r", "idempotency_key": "k1"}
    response = await stack.gateway.post(
        "/api/admin/credits", json={**good, field: NUL}, headers=admin.headers
    )
    await _refused(response, field)


async def test_a_price_past_the_calendar_is_422(stack: Stack, admin: Account) -> None:
    response = await stack.gateway.put(
        "/api/admin/prices/gpt-4o",
        json={**RATES, "effective_from": PAST_THE_CALENDAR},
        headers=admin.headers,
    )
    await _refused(response, "effective_from")


async def test_a_price_path_with_a_nul_is_422(stack: Stack, admin: Account) -> None:
    for method in ("GET", "PUT"):
        response = await stack.gateway.request(
            method, "/api/admin/prices/gpt%00", json=RATES, headers=admin.headers
        )
        await _refused(response, "model")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": NUL}, "name"),
        ({"models": [NUL]}, "models"),
        ({"base_url": "http://127.0.0.1:9/a\u0000b"}, "base_url"),
        ({"model_map": {"gpt-4o": NUL}}, "model_map"),
        ({"api_key": NUL}, "api_key"),
    ],
)
async def test_a_channel_with_a_nul_is_422(
    stack: Stack, admin: Account, changes: dict[str, Any], field: str
) -> None:
    response = await stack.gateway.post(
        "/api/admin/channels", json={**CHANNEL, **changes}, headers=admin.headers
    )
    await _refused(response, field)


async def test_an_unknown_field_name_is_quoted_capped(stack: Stack, admin: Account) -> None:
    long_name = "x" * 5000
    response = await stack.gateway.post(
        "/api/admin/channels", json={**CHANNEL, long_name: 1}, headers=admin.headers
    )
    error = await _error(response, 422)
    assert error["details"] == ["x" * 80 + "…(+4920 chars): unknown field"]


async def test_an_alias_naming_a_model_with_a_nul_is_422(stack: Stack, admin: Account) -> None:
    response = await stack.gateway.put(
        "/api/admin/model-aliases/x", json={"model": NUL}, headers=admin.headers
    )
    await _refused(response, "model")


@pytest.mark.parametrize(
    ("method", "alias"), [("PUT", "pz%00"), ("DELETE", "pz%00"), ("DELETE", "a" * 2000)]
)
async def test_an_alias_path_with_a_nul_or_too_long_is_422(
    stack: Stack, admin: Account, method: str, alias: str
) -> None:
    response = await stack.gateway.request(
        method, f"/api/admin/model-aliases/{alias}", json={"model": "gpt-4o"}, headers=admin.headers
    )
    await _refused(response, "alias")
    assert "a" * 300 not in await response.text()


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/usage", {"model": "\u0000"}, "model"),
        ("/api/usage/summary", {"model": "\u0000"}, "model"),
        ("/api/usage/export", {"model": "\u0000"}, "model"),
        ("/api/usage/summary", {"to": "9999-12-31T12:00:00Z"}, "to"),
        ("/api/usage/export", {"to": "9999-12-31"}, "to"),
        ("/api/usage", {"from": "9999-12-31"}, "from"),
    ],
)
async def test_a_usage_query_with_a_nul_or_past_the_calendar_is_422(
    stack: Stack, path: str, query: dict[str, str], field: str
) -> None:
    """The export, too, refuses before its 200: it once sent 200 and then cut the body off."""
    account = await sign_up(stack.gateway)
    response = await stack.gateway.get(path, params=query, headers=account.headers)
    await _refused(response, field)


def _cursor(occurred_at: str, event_id: str) -> str:
    raw = orjson.dumps([occurred_at, event_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "forged",
    [
        _cursor("2025-01-01T00:00:00+00:00", NUL),
        _cursor(PAST_THE_CALENDAR, "req_1"),
        _cursor("9999-12-31T23:59:59+00:00", "req_1"),
    ],
)
async def test_a_cursor_with_a_nul_or_past_the_calendar_is_422(stack: Stack, forged: str) -> None:
    account = await sign_up(stack.gateway)
    response = await stack.gateway.get(
        "/api/usage", params={"cursor": forged}, headers=account.headers
    )
    await _refused(response, "cursor")


async def test_an_unknown_api_path_is_quoted_capped(stack: Stack) -> None:
    response = await stack.gateway.get("/api/" + "p" * 5000)
    error = await _error(response, 404)
    assert "p" * 200 not in error["message"] and "(+" in error["message"]
