"""API keys: shown once, listed as metadata, owned, revoked everywhere at once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from shared import api_key_format
from shared.internal import TOKEN_HEADER
from tests.accounts import create_key, sign_up
from tests.conftest import INTERNAL_TOKEN, Stack


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_the_secret_is_shown_once_and_never_listed(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account, name="laptop", models=["gpt-4o-mini"])
    secret = created["key"]
    assert api_key_format.is_well_formed(secret)
    assert created["prefix"] == secret[: api_key_format.DISPLAY_PREFIX_LENGTH]
    assert created["models"] == ["gpt-4o-mini"]
    listing = await stack.gateway.get("/api/keys", headers=account.headers)
    raw = await listing.text()
    assert secret not in raw and secret[len(created["prefix"]) :] not in raw
    (listed,) = (await listing.json())["data"]
    assert set(listed) == {
        "id",
        "name",
        "prefix",
        "models",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip_allowlist",
        "budget",
        "limits",
        "suspended_at",
        "suspended_reason",
    }
    assert listed["id"] == created["id"] and listed["name"] == "laptop"


async def test_a_key_authenticates_account_reads_but_not_key_management(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    secret = (await create_key(stack.gateway, account))["key"]
    for headers in (_bearer(secret), {"x-api-key": secret}, {"x-goog-api-key": secret}):
        response = await stack.gateway.get("/api/me", headers=headers)
        assert response.status == 200, headers
        assert (await response.json())["id"] == account.id
    assert (await stack.gateway.get(f"/api/me?key={secret}")).status == 200
    assert (await stack.gateway.get("/api/keys", headers=_bearer(secret))).status == 403
    assert (
        await stack.gateway.post("/api/keys", json={"name": "x"}, headers=_bearer(secret))
    ).status == 403


async def test_last_used_is_recorded(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    secret = (await create_key(stack.gateway, account))["key"]
    assert (await stack.gateway.get("/api/me", headers=_bearer(secret))).status == 200
    (listed,) = (await (await stack.gateway.get("/api/keys", headers=account.headers)).json())[
        "data"
    ]
    assert listed["last_used_at"] is not None


async def test_malformed_and_unknown_keys_are_401(stack: Stack) -> None:
    valid_shape = api_key_format.generate()
    broken_checksum = valid_shape[:-1] + ("A" if valid_shape[-1] != "A" else "B")
    for key in (valid_shape, broken_checksum, "tg-short", "tg-" + "x" * 38):
        assert (await stack.gateway.get("/api/me", headers=_bearer(key))).status == 401


async def test_a_revoked_key_is_refused_by_a_running_gateway_within_one_second(
    stack: Stack,
) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    secret = created["key"]
    # Warm the gateway's cache, so that refusing the key needs the revocation notice.
    for _ in range(3):
        assert (await stack.gateway.get("/api/me", headers=_bearer(secret))).status == 200
    revoked = await stack.gateway.delete(f"/api/keys/{created['id']}", headers=account.headers)
    assert revoked.status == 204
    started = time.monotonic()
    while (await stack.gateway.get("/api/me", headers=_bearer(secret))).status != 401:
        assert time.monotonic() - started < 1.0, "revoked key still accepted after 1 s"
        await asyncio.sleep(0.02)
    assert (await stack.gateway.get("/api/keys", headers=account.headers)).status == 200
    listing = await (await stack.gateway.get("/api/keys", headers=account.headers)).json()
    assert listing["data"] == []


async def test_rotation_issues_a_new_secret_and_stops_the_old_one(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    old = await create_key(stack.gateway, account, name="ci", models=["gpt-4o"])
    assert (await stack.gateway.get("/api/me", headers=_bearer(old["key"]))).status == 200
    response = await stack.gateway.post(f"/api/keys/{old['id']}/rotate", headers=account.headers)
    assert response.status == 201
    new = await response.json()
    assert new["key"] != old["key"] and new["id"] != old["id"]
    assert new["name"] == "ci" and new["models"] == ["gpt-4o"]
    assert (await stack.gateway.get("/api/me", headers=_bearer(new["key"]))).status == 200
    started = time.monotonic()
    while (await stack.gateway.get("/api/me", headers=_bearer(old["key"]))).status != 401:
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.02)
    again = await stack.gateway.post(f"/api/keys/{old['id']}/rotate", headers=account.headers)
    assert again.status == 404


async def test_expired_keys_are_refused(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    created = await create_key(stack.gateway, account, expires_at=soon.isoformat())
    assert created["expires_at"] is not None
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    assert (await stack.gateway.get("/api/me", headers=_bearer(created["key"]))).status == 401
    past = await stack.gateway.post(
        "/api/keys",
        json={"name": "old", "expires_at": "2000-01-01T00:00:00Z"},
        headers=account.headers,
    )
    assert past.status == 422


async def test_user_a_gets_404_on_user_b_keys(stack: Stack) -> None:
    alice = await sign_up(stack.gateway)
    bob = await sign_up(stack.gateway)
    bobs = await create_key(stack.gateway, bob)
    assert (
        await stack.gateway.delete(f"/api/keys/{bobs['id']}", headers=alice.headers)
    ).status == 404
    rotate = await stack.gateway.post(f"/api/keys/{bobs['id']}/rotate", headers=alice.headers)
    assert rotate.status == 404
    listing = await (await stack.gateway.get("/api/keys", headers=alice.headers)).json()
    assert listing["data"] == []
    assert (await stack.gateway.get("/api/me", headers=_bearer(bobs["key"]))).status == 200
    assert (await stack.gateway.delete("/api/keys/not-a-uuid", headers=alice.headers)).status == 404


async def test_internal_verify_requires_the_internal_token(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    secret = (await create_key(stack.gateway, account))["key"]
    url = stack.auth.make_url("/internal/keys/verify")
    session = stack.gateway.session
    for headers in ({}, {TOKEN_HEADER: "wrong-token-wrong-token"}):
        async with session.post(url, json={"key": secret}, headers=headers) as response:
            assert response.status == 401
            assert "user_id" not in await response.text()
    async with session.post(
        url, json={"key": secret}, headers={TOKEN_HEADER: INTERNAL_TOKEN}
    ) as ok:
        assert ok.status == 200
        assert (await ok.json())["user_id"] == account.id


async def test_internal_endpoints_are_not_reachable_through_the_gateway(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    secret = (await create_key(stack.gateway, account))["key"]
    for path in (
        "/internal/keys/verify",
        "/api/../internal/keys/verify",
        "/api/%2e%2e/internal/keys/verify",
        "/api/keys/../../internal/keys/verify",
    ):
        response = await stack.gateway.post(
            path,
            json={"key": secret},
            headers={**account.headers, TOKEN_HEADER: INTERNAL_TOKEN},
        )
        assert response.status in {404, 405}, path
        assert "user_id" not in await response.text()
