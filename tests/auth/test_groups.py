"""Groups: `GET /api/admin/groups`, `GET|PUT|DELETE /api/admin/groups/{name}`.

Admin only; PUT creates or replaces (multiplier and default limits); the
default group and groups with members are never deleted; a change reaches
every gateway by the groups notice and what auth tells the gateway follows.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis

from shared import invalidation
from tests.accounts import Account, create_key, sign_up
from tests.auth.admins import make_admin
from tests.auth.test_key_verify_policy import _verify
from tests.conftest import Stack

# The tests of a session share one database: names of their own.
_TAG = uuid.uuid4().hex[:6]
GOLD, SILVER, BUSY, RACE = (f"{name}-{_TAG}" for name in ("gold", "silver", "busy", "race"))


async def _put(stack: Stack, admin: Account, name: str, body: Any) -> tuple[int, Any]:
    answer = await stack.gateway.put(f"/api/admin/groups/{name}", json=body, headers=admin.headers)
    return answer.status, await answer.json()


async def test_put_creates_then_replaces_and_verify_follows(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    status, created = await _put(
        stack,
        admin,
        GOLD,
        {"price_multiplier": "1.50", "rpm": 100, "tpm": 50000, "concurrency": 4, "note": "tier"},
    )
    assert status == 201, created
    assert created["name"] == GOLD and created["price_multiplier"] == "1.5"
    assert (created["rpm"], created["tpm"], created["concurrency"]) == (100, 50000, 4)
    assert created["note"] == "tier" and created["members"] == 0
    member = await sign_up(stack.gateway)
    key = await create_key(stack.gateway, member)
    await db.execute(
        "UPDATE auth.users SET group_name = $2 WHERE id = $1", uuid.UUID(member.id), GOLD
    )
    verified = (await _verify(stack, key["key"]))[1]
    assert verified["price_multiplier"] == "1.5"
    assert verified["limits"]["user"] == {"rpm": 100, "tpm": 50000, "concurrency": 4}
    status, replaced = await _put(stack, admin, GOLD, {"price_multiplier": "2"})
    assert status == 200, replaced
    assert replaced["rpm"] is None and replaced["note"] is None and replaced["members"] == 1
    verified = (await _verify(stack, key["key"]))[1]
    assert verified["price_multiplier"] == "2"
    assert verified["limits"]["user"] == {"rpm": None, "tpm": None, "concurrency": None}
    listing = await stack.gateway.get("/api/admin/groups", headers=admin.headers)
    names = [g["name"] for g in (await listing.json())["data"]]
    assert names == sorted(names) and {"default", GOLD} <= set(names)
    one = await stack.gateway.get(f"/api/admin/groups/{GOLD}", headers=admin.headers)
    assert (await one.json())["price_multiplier"] == "2"


async def test_a_change_is_announced_to_every_gateway(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    admin = await make_admin(stack, db)
    pubsub = redis.pubsub()
    await pubsub.subscribe(invalidation.GROUPS_CHANGED)
    try:
        await pubsub.get_message(timeout=1)  # the subscription's own confirmation
        assert (await _put(stack, admin, SILVER, {"price_multiplier": "1.1"}))[0] == 201
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None and message["data"] in (SILVER, SILVER.encode())
        deleted = await stack.gateway.delete(f"/api/admin/groups/{SILVER}", headers=admin.headers)
        assert deleted.status == 204
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None and message["data"] in (SILVER, SILVER.encode())
    finally:
        await pubsub.aclose()


async def test_default_and_groups_with_members_are_not_deleted(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    refused = await stack.gateway.delete("/api/admin/groups/default", headers=admin.headers)
    assert refused.status == 409
    assert (await _put(stack, admin, BUSY, {}))[0] == 201
    await db.execute(
        "UPDATE auth.users SET group_name = $2 WHERE id = $1", uuid.UUID(admin.id), BUSY
    )
    refused = await stack.gateway.delete(f"/api/admin/groups/{BUSY}", headers=admin.headers)
    assert refused.status == 409 and "members" in (await refused.json())["error"]["message"]
    assert (
        await stack.gateway.get(f"/api/admin/groups/{BUSY}", headers=admin.headers)
    ).status == 200
    missing = await stack.gateway.delete("/api/admin/groups/nowhere", headers=admin.headers)
    assert missing.status == 404
    default = await stack.gateway.get("/api/admin/groups/default", headers=admin.headers)
    assert (await default.json())["price_multiplier"] == "1"


async def test_bad_input_is_422(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    name = f"bad-{uuid.uuid4().hex[:8]}"
    refusals: list[tuple[str, Any, str]] = [
        (name, {"price_multiplier": "0"}, "price_multiplier"),
        (name, {"price_multiplier": "-1"}, "price_multiplier"),
        (name, {"price_multiplier": "100.01"}, "price_multiplier"),
        (name, {"price_multiplier": 1.5}, "price_multiplier"),
        (name, {"price_multiplier": "NaN"}, "price_multiplier"),
        (name, {"price_multiplier": "1.00001"}, "price_multiplier"),
        (name, {"price_multiplier": "9" * 100_000}, "price_multiplier"),
        (name, {"rpm": 0}, "rpm"),
        (name, {"concurrency": "2"}, "concurrency"),
        (name, {"tpm": 10**15}, "tpm"),
        (name, {"note": "x" * 1001}, "note"),
        (name, {"note": "a\x00b"}, "note"),
        (name, {"colour": "gold"}, "colour"),
        ("Gold", {}, "name"),
        ("-gold", {}, "name"),
        ("g" * 41, {}, "name"),
    ]
    for path_name, body, field in refusals:
        status, answer = await _put(stack, admin, path_name, body)
        assert status == 422, (path_name, body, answer)
        assert any(d.startswith(field) for d in answer["error"]["details"]), (body, answer)
    assert (
        await stack.gateway.get(f"/api/admin/groups/{name}", headers=admin.headers)
    ).status == 404


async def test_only_admins(stack: Stack, db: Any) -> None:
    user = await sign_up(stack.gateway)
    for method, path in (
        ("GET", "/api/admin/groups"),
        ("GET", "/api/admin/groups/default"),
        ("PUT", "/api/admin/groups/mine"),
        ("DELETE", "/api/admin/groups/default"),
    ):
        answer = await stack.gateway.request(method, path, json={}, headers=user.headers)
        assert answer.status == 403, (method, path)
    admin = await make_admin(stack, db)
    key = (await create_key(stack.gateway, admin))["key"]
    with_key = await stack.gateway.get(
        "/api/admin/groups", headers={"Authorization": f"Bearer {key}"}
    )
    assert with_key.status == 403
    assert (await stack.gateway.get("/api/admin/groups")).status == 401


async def test_concurrent_puts_leave_one_whole_version(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    answers = await asyncio.gather(
        *(
            _put(stack, admin, RACE, {"price_multiplier": str(n), "rpm": n, "tpm": n})
            for n in range(1, 21)
        )
    )
    assert sorted(status for status, _ in answers) == [200] * 19 + [201]
    final = await (
        await stack.gateway.get(f"/api/admin/groups/{RACE}", headers=admin.headers)
    ).json()
    assert final["price_multiplier"] == str(final["rpm"]) == str(final["tpm"])
