"""Saving a channel: the URL guard's refusals through the admin API, and the
fields that only the whole channel can check."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.accounts import Account
from tests.conftest import Stack

CHANNELS = "/api/admin/channels"


def _channel(stack: Stack, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"guarded-{secrets.token_hex(3)}",
        "kind": "openai",
        "base_url": str(stack.mock.make_url("")),
        "api_key": "sk-upstream",
        "models": ["gpt-4o-mini"],
        **fields,
    }


async def _refusal(stack: Stack, admin: Account, **fields: Any) -> list[str]:
    response = await stack.gateway.post(
        CHANNELS, json=_channel(stack, **fields), headers=admin.headers
    )
    body = await response.json()
    assert response.status == 422, body
    details: list[str] = body["error"]["details"]
    return details


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("http://169.254.169.254/", "169.254.169.254 is a link-local address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://127.0.0.1:9/", "127.0.0.1 is a loopback address"),
        ("http://10.0.0.7/", "10.0.0.7 is a private address"),
        ("http://localhost:9/", "localhost resolves to"),
    ],
)
async def test_inside_addresses_are_refused_without_the_allowance(
    stack: Stack, admin: Account, base_url: str, says: str
) -> None:
    (problem,) = await _refusal(stack, admin, base_url=base_url)
    assert says in problem and "allow_private_network" in problem


async def test_a_host_that_does_not_resolve_yet_is_accepted(stack: Stack, admin: Account) -> None:
    """It leads nowhere now; the guard checks it again on every connection."""
    response = await stack.gateway.post(
        CHANNELS,
        json=_channel(stack, base_url="https://no-such-host.invalid/"),
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()


async def test_a_base_url_that_redirects_is_refused_even_when_allowed(
    stack: Stack, admin: Account
) -> None:
    redirecting = str(stack.mock.make_url("/mock/redirect/x"))
    (problem,) = await _refusal(stack, admin, base_url=redirecting, allow_private_network=True)
    assert "answers 307 redirecting to http://169.254.169.254/" in problem
    assert "never follows redirects" in problem


async def test_the_allowance_admits_loopback_and_a_patch_is_checked_again(
    stack: Stack, admin: Account
) -> None:
    response = await stack.gateway.post(
        CHANNELS, json=_channel(stack, allow_private_network=True), headers=admin.headers
    )
    assert response.status == 201, await response.text()
    channel_id = (await response.json())["id"]
    refused = await stack.gateway.patch(
        f"{CHANNELS}/{channel_id}", json={"allow_private_network": False}, headers=admin.headers
    )
    assert refused.status == 422
    assert "loopback" in await refused.text()
    moved = await stack.gateway.patch(
        f"{CHANNELS}/{channel_id}",
        json={"base_url": "http://169.254.169.254"},
        headers=admin.headers,
    )
    assert moved.status == 200, "allowed channels may reach inside: the operator said so"


async def test_model_map_names_only_the_channels_models(stack: Stack, admin: Account) -> None:
    problems = await _refusal(
        stack,
        admin,
        allow_private_network=True,
        model_map={"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": ""},
    )
    assert problems == ["model_map: an object from model names to non-empty upstream names"]
    (problem,) = await _refusal(
        stack, admin, allow_private_network=True, model_map={"gpt-4o": "gpt-4o-2024-08-06"}
    )
    assert problem == "model_map: gpt-4o is not one of the channel's models"


async def test_timeouts_are_milliseconds_and_null_clears_one(stack: Stack, admin: Account) -> None:
    problems = await _refusal(stack, admin, connect_timeout_ms=0, idle_timeout_ms="5")
    assert "connect_timeout_ms: must be between 1 and 3600000" in problems
    assert "idle_timeout_ms: must be an integer" in problems
    response = await stack.gateway.post(
        CHANNELS,
        json=_channel(stack, allow_private_network=True, first_byte_timeout_ms=1500),
        headers=admin.headers,
    )
    created = await response.json()
    assert created["first_byte_timeout_ms"] == 1500 and created["connect_timeout_ms"] is None
    patched = await stack.gateway.patch(
        f"{CHANNELS}/{created['id']}", json={"first_byte_timeout_ms": None}, headers=admin.headers
    )
    assert (await patched.json())["first_byte_timeout_ms"] is None
