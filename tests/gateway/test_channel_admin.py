"""`/api/admin/channels` through the gateway: CRUD, the write-only provider key,
validation, who may call it, the key sealed at rest, and changes reaching the
relay of this and every other gateway process without a restart."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from cryptography.fernet import Fernet

from services.gateway.app import create_app as create_gateway
from services.gateway.app_keys import CHANNEL_CACHE
from tests.accounts import Account, Client, create_key, sign_up
from tests.conftest import SECRET_KEYS, AiohttpClient, Stack
from tests.relay import add_prices, credit, usage_results

CHANNELS = "/api/admin/channels"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}


def _secret() -> str:
    return f"sk-upstream-{secrets.token_hex(16)}"


def _channel(stack: Stack, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"mock-{secrets.token_hex(3)}",
        "kind": "openai",
        "base_url": str(stack.mock.make_url("")),
        "api_key": _secret(),
        "models": ["gpt-4o-mini"],
        "priority": 5,
        "weight": 3,
        "allow_private_network": True,  # the mock listens on loopback
        **fields,
    }


async def _create(client: Client, admin: Account, channel: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(CHANNELS, json=channel, headers=admin.headers)
    assert response.status == 201, await response.text()
    assert channel["api_key"] not in await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def _patch(
    client: Client, admin: Account, channel_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    response = await client.patch(f"{CHANNELS}/{channel_id}", json=changes, headers=admin.headers)
    assert response.status == 200, await response.text()
    if "api_key" in changes:
        assert changes["api_key"] not in await response.text()
    changed: dict[str, Any] = await response.json()
    return changed


async def _key_for_new_user(client: Client, stack: Stack | None = None) -> dict[str, str]:
    """A funded user's key, with prices for the mock models (relaying needs both)."""
    user = await sign_up(client)
    if stack is not None:
        await add_prices(stack)
        await credit(stack, user.id, Decimal(10))
    key = await create_key(client, user)
    return {"Authorization": f"Bearer {key['key']}"}


async def test_create_list_and_get_show_everything_but_the_key(
    stack: Stack, admin: Account
) -> None:
    channel = _channel(stack, base_url=str(stack.mock.make_url("/v1/")))
    created = await _create(stack.gateway, admin, channel)
    assert set(created) == {
        "id",
        "name",
        "kind",
        "base_url",
        "models",
        "priority",
        "weight",
        "enabled",
        "disabled_reason",
        "model_map",
        "allow_private_network",
        "connect_timeout_ms",
        "first_byte_timeout_ms",
        "idle_timeout_ms",
    }
    assert created["name"] == channel["name"] and created["kind"] == "openai"
    assert created["base_url"] == str(stack.mock.make_url("")).rstrip("/")
    assert created["models"] == ["gpt-4o-mini"]
    assert (created["priority"], created["weight"], created["enabled"]) == (5, 3, True)

    listed = await stack.gateway.get(CHANNELS, headers=admin.headers)
    assert listed.status == 200
    assert channel["api_key"] not in await listed.text()
    (shown,) = (await listed.json())["data"]
    assert shown.pop("health")["breaker"] == "closed"  # health: tests/gateway/test_admin_system.py
    assert shown == created

    one = await stack.gateway.get(f"{CHANNELS}/{created['id']}", headers=admin.headers)
    assert one.status == 200
    assert channel["api_key"] not in await one.text()
    assert {k: v for k, v in (await one.json()).items() if k != "health"} == created


async def test_defaults_apply_when_priority_and_weight_are_left_out(
    stack: Stack, admin: Account
) -> None:
    channel = _channel(stack)
    del channel["priority"], channel["weight"]
    created = await _create(stack.gateway, admin, channel)
    assert (created["priority"], created["weight"], created["enabled"]) == (0, 1, True)


async def test_patch_changes_models_disables_and_replaces_the_key(
    stack: Stack, admin: Account
) -> None:
    app = stack.gateway.app
    assert app is not None
    created = await _create(stack.gateway, admin, _channel(stack))
    channel_id = created["id"]

    changed = await _patch(stack.gateway, admin, channel_id, {"models": ["o4-mini", "gpt-4o"]})
    assert changed == {**created, "models": ["o4-mini", "gpt-4o"]}

    disabled = await _patch(stack.gateway, admin, channel_id, {"enabled": False})
    assert disabled == {**changed, "enabled": False, "disabled_reason": "operator"}

    new_key = _secret()
    rekeyed = await _patch(stack.gateway, admin, channel_id, {"api_key": new_key})
    assert rekeyed == disabled
    (cached,) = app[CHANNEL_CACHE].table.channels
    assert cached.api_key == new_key, "the gateway still relays with the old key"

    for path in (CHANNELS, f"{CHANNELS}/{channel_id}"):
        response = await stack.gateway.get(path, headers=admin.headers)
        assert response.status == 200 and new_key not in await response.text()


async def test_an_empty_patch_changes_nothing(stack: Stack, admin: Account) -> None:
    created = await _create(stack.gateway, admin, _channel(stack))
    assert await _patch(stack.gateway, admin, created["id"], {}) == created


async def test_delete_answers_204_then_404(stack: Stack, admin: Account) -> None:
    created = await _create(stack.gateway, admin, _channel(stack))
    path = f"{CHANNELS}/{created['id']}"
    deleted = await stack.gateway.delete(path, headers=admin.headers)
    assert deleted.status == 204 and await deleted.read() == b""
    for method in ("GET", "PATCH", "DELETE"):
        response = await stack.gateway.request(
            method, path, json={"enabled": True}, headers=admin.headers
        )
        assert response.status == 404, method
        assert (await response.json())["error"]["code"] == "not_found"
    listed = await stack.gateway.get(CHANNELS, headers=admin.headers)
    assert (await listed.json())["data"] == []


@pytest.mark.parametrize("channel_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%20"])
async def test_unknown_or_malformed_ids_are_404(
    stack: Stack, admin: Account, channel_id: str
) -> None:
    path = f"{CHANNELS}/{channel_id}"
    for method in ("GET", "PATCH", "DELETE"):
        response = await stack.gateway.request(
            method, path, json={"enabled": False}, headers=admin.headers
        )
        assert response.status == 404, (method, await response.text())
        assert (await response.json())["error"] == {
            "code": "not_found",
            "message": "channel not found",
        }


def _details(body: dict[str, Any]) -> list[str]:
    assert body["error"]["code"] == "validation_failed"
    details: list[str] = body["error"]["details"]
    return details


async def test_create_lists_every_problem_in_one_422(stack: Stack, admin: Account) -> None:
    secret = _secret()
    response = await stack.gateway.post(
        CHANNELS,
        json={
            "name": "bad",
            "kind": "azure",
            "base_url": "ftp://example.com",
            "api_key": secret,
            "models": [],
            "weight": 0,
            "priority": "high",
            "colour": "red",
        },
        headers=admin.headers,
    )
    assert response.status == 422
    assert secret not in await response.text()
    assert sorted(_details(await response.json())) == sorted(
        [
            "colour: unknown field",
            "kind: one of openai, anthropic, gemini",
            "base_url: an http:// or https:// URL with a host, and no user, query or fragment",
            "models: a non-empty list of model names",
            "weight: must be between 1 and 10000",
            "priority: must be an integer",
        ]
    )


async def test_create_names_wrong_types_and_missing_fields(stack: Stack, admin: Account) -> None:
    wrong = await stack.gateway.post(
        CHANNELS,
        json={
            "name": 5,
            "kind": ["openai"],
            "base_url": 80,
            "api_key": {"key": "x"},
            "models": "gpt-4o-mini",
            "priority": 1.5,
            "weight": True,
            "enabled": "yes",
        },
        headers=admin.headers,
    )
    assert wrong.status == 422
    assert set(_details(await wrong.json())) == {
        "name: must be a string",
        "kind: must be a string",
        "base_url: must be a string",
        "api_key: must be a string",
        "models: must be a list of strings",
        "models: a non-empty list of model names",
        "priority: must be an integer",
        "weight: must be an integer",
        "enabled: must be true or false",
    }
    missing = await stack.gateway.post(CHANNELS, json={}, headers=admin.headers)
    assert missing.status == 422
    assert set(_details(await missing.json())) == {
        "name: required",
        "kind: required",
        "base_url: required",
        "api_key: required",
        "models: a non-empty list of model names",
    }


@pytest.mark.parametrize(
    "base_url",
    [
        "http:///v1",  # no host once the version is stripped
        "https://exa mple.com",
        "http://user:secret@example.com",
        "https://example.com?key=AIza-secret",
        "http://example.com:99999",
        "example.com",
    ],
)
async def test_create_refuses_a_base_url_the_relay_cannot_use(
    stack: Stack, admin: Account, base_url: str
) -> None:
    response = await stack.gateway.post(
        CHANNELS, json=_channel(stack, base_url=base_url), headers=admin.headers
    )
    assert response.status == 422, await response.text()
    (problem,) = _details(await response.json())
    assert problem.startswith("base_url: ")


async def test_create_refuses_blank_names_keys_and_models(stack: Stack, admin: Account) -> None:
    response = await stack.gateway.post(
        CHANNELS,
        json=_channel(stack, name="  ", api_key=" ", models=["gpt-4o-mini", " "]),
        headers=admin.headers,
    )
    assert response.status == 422
    assert set(_details(await response.json())) == {
        "name: must not be blank",
        "api_key: must not be blank",
        "models: a non-empty list of model names",
    }


async def test_patch_is_validated_and_an_invalid_patch_changes_nothing(
    stack: Stack, admin: Account
) -> None:
    created = await _create(stack.gateway, admin, _channel(stack))
    path = f"{CHANNELS}/{created['id']}"
    response = await stack.gateway.patch(
        path,
        json={"models": [], "weight": 0, "kind": "azure", "id": str(uuid.uuid4()), "enabled": 0},
        headers=admin.headers,
    )
    assert response.status == 422
    assert set(_details(await response.json())) == {
        "id: unknown field",
        "kind: one of openai, anthropic, gemini",
        "models: a non-empty list of model names",
        "weight: must be between 1 and 10000",
        "enabled: must be true or false",
    }
    unchanged = await stack.gateway.get(path, headers=admin.headers)
    assert {k: v for k, v in (await unchanged.json()).items() if k != "health"} == created


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "empty"), (b"{not json", "not valid JSON"), (b"[]", "must be a JSON object")],
)
async def test_a_body_that_is_not_a_json_object_is_400(
    stack: Stack, admin: Account, body: bytes, message: str
) -> None:
    headers = {**admin.headers, "Content-Type": "application/json"}
    response = await stack.gateway.post(CHANNELS, data=body, headers=headers)
    assert response.status == 400
    assert message in (await response.json())["error"]["message"]


async def test_a_duplicate_name_is_409(stack: Stack, admin: Account) -> None:
    first = await _create(stack.gateway, admin, _channel(stack, name="primary"))
    second = await _create(stack.gateway, admin, _channel(stack, name="secondary"))
    again = await stack.gateway.post(
        CHANNELS, json=_channel(stack, name="Primary"), headers=admin.headers
    )
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "conflict"
    renamed = await stack.gateway.patch(
        f"{CHANNELS}/{second['id']}", json={"name": "PRIMARY"}, headers=admin.headers
    )
    assert renamed.status == 409
    listed = await stack.gateway.get(CHANNELS, headers=admin.headers)
    assert [c["name"] for c in (await listed.json())["data"]] == [first["name"], "secondary"]


async def _every_route(stack: Stack, headers: dict[str, str]) -> list[tuple[str, int]]:
    one = f"{CHANNELS}/{uuid.uuid4()}"
    calls = [
        ("GET", CHANNELS),
        ("POST", CHANNELS),
        ("GET", one),
        ("PATCH", one),
        ("DELETE", one),
    ]
    statuses = []
    for method, path in calls:
        response = await stack.gateway.request(method, path, json=_channel(stack), headers=headers)
        statuses.append((method, response.status))
    return statuses


async def test_only_an_admin_login_may_use_the_admin_routes(
    stack: Stack, admin: Account, db: Any
) -> None:
    user = await sign_up(stack.gateway)
    user_key = await create_key(stack.gateway, user)
    admin_key = await create_key(stack.gateway, admin)
    refused = {
        "user login": (user.headers, 403),
        "user API key": ({"Authorization": f"Bearer {user_key['key']}"}, 403),
        "the admin's own API key": ({"Authorization": f"Bearer {admin_key['key']}"}, 403),
        "admin key as x-api-key": ({"x-api-key": admin_key["key"]}, 403),
        "no credential": ({}, 401),
        "a forged token": ({"Authorization": "Bearer not.a.jwt"}, 401),
    }
    for caller, (headers, status) in refused.items():
        statuses = await _every_route(stack, headers)
        assert all(got == status for _, got in statuses), (caller, statuses)
    assert await db.fetchval("SELECT count(*) FROM gateway.channels") == 0


async def test_the_provider_key_is_sealed_at_rest_and_never_logged(
    stack: Stack, admin: Account, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    channel = _channel(stack)
    created = await _create(stack.gateway, admin, channel)
    new_key = _secret()
    await _patch(stack.gateway, admin, created["id"], {"api_key": new_key})

    row = await db.fetchrow(
        "SELECT * FROM gateway.channels WHERE id = $1", uuid.UUID(created["id"])
    )
    sealed = bytes(row["api_key_encrypted"])
    for secret in (channel["api_key"], new_key):
        assert secret.encode() not in sealed
        for column, value in row.items():
            assert secret not in str(value), column
    assert Fernet(SECRET_KEYS[0]).decrypt(sealed).decode() == new_key

    for secret in (channel["api_key"], new_key):
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in repr(vars(record))


async def _chat(client: Client, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_a_change_reaches_the_relay_without_a_restart(
    stack: Stack, admin: Account, caplog: pytest.LogCaptureFixture
) -> None:
    key = await _key_for_new_user(stack.gateway, stack)
    assert (await _chat(stack.gateway, key))[0] == 404, "no channel yet"

    created = await _create(stack.gateway, admin, _channel(stack))
    status, body = await _chat(stack.gateway, key)
    assert status == 200 and body["choices"][0]["message"]["content"]
    assert (await usage_results(caplog))[-1]["channel_id"] == created["id"]

    await _patch(stack.gateway, admin, created["id"], {"enabled": False})
    status, body = await _chat(stack.gateway, key)
    assert status == 404
    assert body == {
        "error": {
            "message": "the model gpt-4o-mini does not exist or is not available",
            "type": "not_found_error",
            "param": None,
            "code": "not_found",
        }
    }

    await _patch(stack.gateway, admin, created["id"], {"enabled": True})
    assert (await _chat(stack.gateway, key))[0] == 200

    await _patch(stack.gateway, admin, created["id"], {"models": ["o4-mini"]})
    assert (await _chat(stack.gateway, key))[0] == 404

    deleted = await stack.gateway.delete(f"{CHANNELS}/{created['id']}", headers=admin.headers)
    assert deleted.status == 204
    models = await stack.gateway.get("/v1/models", headers=key)
    assert (await models.json())["data"] == []


async def _model_ids(client: Client, key: dict[str, str]) -> set[str]:
    response = await client.get("/v1/models", headers=key)
    assert response.status == 200, await response.text()
    return {model["id"] for model in (await response.json())["data"]}


async def _seconds_until(client: Client, key: dict[str, str], seen: bool, model: str) -> float:
    """How long until `client`'s `/v1/models` shows (or stops showing) `model`."""
    started = time.perf_counter()
    while (model in await _model_ids(client, key)) is not seen:
        assert time.perf_counter() - started < 5, f"{model} never {'appeared' if seen else 'left'}"
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def test_another_gateway_process_hears_of_changes_within_a_second(
    stack: Stack, admin: Account, aiohttp_client: AiohttpClient
) -> None:
    other = await aiohttp_client(create_gateway(stack.gateway_settings))
    key = await _key_for_new_user(other, stack)
    assert await _model_ids(other, key) == set()

    # Once the other gateway has seen a first channel, its subscription is live
    # (it reloads when it subscribes, and hears notices after), so what follows
    # can only reach it through a notice.
    await _create(stack.gateway, admin, _channel(stack, models=["warm-up"]))
    await _seconds_until(other, key, True, "warm-up")

    started = time.perf_counter()
    created = await _create(stack.gateway, admin, _channel(stack))
    await _seconds_until(other, key, True, "gpt-4o-mini")
    assert time.perf_counter() - started < 1.0
    assert (await _chat(other, key))[0] == 200

    started = time.perf_counter()
    await _patch(stack.gateway, admin, created["id"], {"enabled": False})
    await _seconds_until(other, key, False, "gpt-4o-mini")
    assert time.perf_counter() - started < 1.0
    assert (await _chat(other, key))[0] == 404
