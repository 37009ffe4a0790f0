"""Bad input on `/api/*` gets a 4xx JSON error that says what is wrong."""

from __future__ import annotations

import io
from typing import Any

from tests.accounts import sign_up
from tests.conftest import Stack


async def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert "Traceback" not in str(body)
    error: dict[str, Any] = body["error"]
    return error


async def test_malformed_json_is_400(stack: Stack) -> None:
    for raw in (b"{", b"not json", b'{"email": }', b"\xff\xfe"):
        response = await stack.gateway.post(
            "/api/auth/signup", data=raw, headers={"Content-Type": "application/json"}
        )
        error = await _error(response, 400)
        assert "not valid JSON" in error["message"]


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
    await _error(await stack.gateway.get("/nowhere"), 404)
    await _error(await stack.gateway.put("/api/me", json={}, headers=account.headers), 405)
