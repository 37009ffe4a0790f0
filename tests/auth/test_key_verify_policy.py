"""What auth tells the gateway for admission: a key's policy and its owner's.

`POST /internal/keys/verify` and `GET /internal/users/{id}/policy` (the
contract in docs/admission.md): the group and its multiplier, the user's
limits (their own, else the group's, field by field), the key's limits,
allowlist and budget; a suspended owner's key is 403 `account_suspended`.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest

from shared.internal import TOKEN_HEADER
from tests.accounts import Account, create_key, sign_up
from tests.conftest import INTERNAL_TOKEN, Stack

_INTERNAL = {TOKEN_HEADER: INTERNAL_TOKEN}


async def _verify(stack: Stack, key: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            stack.auth.make_url("/internal/keys/verify"), json={"key": key}, headers=_INTERNAL
        ) as response:
            return response.status, await response.json()


async def _policy(stack: Stack, user_id: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            stack.auth.make_url(f"/internal/users/{user_id}/policy"), headers=_INTERNAL
        ) as response:
            return response.status, await response.json()


async def _key(stack: Stack) -> tuple[Account, dict[str, Any]]:
    account = await sign_up(stack.gateway)
    return account, await create_key(stack.gateway, account)


async def test_a_new_key_answers_the_default_policy(stack: Stack) -> None:
    account, created = await _key(stack)
    status, body = await _verify(stack, created["key"])
    assert status == 200, body
    assert body["user_id"] == account.id and body["key_id"] == created["id"]
    assert body["group"] == "default" and body["price_multiplier"] == "1"
    none = {"rpm": None, "tpm": None, "concurrency": None}
    assert body["limits"] == {"user": none, "key": none, "models": {}}
    assert body["ip_allowlist"] is None and body["budget"] is None


async def test_the_user_limits_are_their_own_else_the_groups_per_field(
    stack: Stack, db: Any
) -> None:
    account, created = await _key(stack)
    user_id = uuid.UUID(account.id)
    group = f"tier-{uuid.uuid4().hex[:8]}"  # the tests of a session share one database
    await db.execute(
        "INSERT INTO auth.groups (name, price_multiplier, rpm, tpm, concurrency) "
        "VALUES ($1, 1.5, 100, 50000, 8)",
        group,
    )
    await db.execute(
        "UPDATE auth.users SET group_name = $2, tpm = 1234 WHERE id = $1", user_id, group
    )
    await db.execute(
        "UPDATE auth.api_keys SET ip_allowlist = ARRAY['10.0.0.0/8', '2001:db8::/32']::cidr[], "
        "budget_usd = 0.01, budget_period = 'day', rpm = 5 WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    status, body = await _verify(stack, created["key"])
    assert status == 200, body
    assert body["group"] == group and body["price_multiplier"] == "1.5"
    assert body["limits"] == {
        "user": {"rpm": 100, "tpm": 1234, "concurrency": 8},
        "key": {"rpm": 5, "tpm": None, "concurrency": None},
        "models": {},
    }
    assert body["ip_allowlist"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert body["budget"] == {"usd": "0.01", "period": "day"}
    status, policy = await _policy(stack, account.id)
    assert status == 200
    assert policy == {
        "group": group,
        "price_multiplier": "1.5",
        "limits": {"user": {"rpm": 100, "tpm": 1234, "concurrency": 8}},
        "suspended": False,
        "suspended_reason": None,
    }


async def test_a_suspended_accounts_key_is_403_account_suspended(stack: Stack, db: Any) -> None:
    account, created = await _key(stack)
    await db.execute(
        "UPDATE auth.users SET suspended_at = now(), suspended_reason = 'abuse' WHERE id = $1",
        uuid.UUID(account.id),
    )
    status, body = await _verify(stack, created["key"])
    assert status == 403
    assert body["error"] == {
        "code": "account_suspended",
        "message": "this account is suspended: abuse",
    }
    status, policy = await _policy(stack, account.id)
    assert policy["suspended"] is True and policy["suspended_reason"] == "abuse"


async def test_the_policy_route_is_internal_and_404s_unknown_users(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    assert (await _policy(stack, str(uuid.uuid4())))[0] == 404
    assert (await _policy(stack, "not-a-uuid"))[0] == 404
    async with aiohttp.ClientSession() as session:
        url = stack.auth.make_url(f"/internal/users/{account.id}/policy")
        async with session.get(url) as bare:
            assert bare.status == 401
    routed = await stack.gateway.get(
        f"/internal/users/{account.id}/policy", headers=account.headers
    )
    assert routed.status == 404  # never reachable through the gateway


async def test_the_default_group_cannot_be_removed_by_sql_while_it_has_members(
    stack: Stack, db: Any
) -> None:
    await sign_up(stack.gateway)
    row = await db.fetchrow("SELECT price_multiplier FROM auth.groups WHERE name = 'default'")
    assert row is not None and row["price_multiplier"] == 1
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute("DELETE FROM auth.groups WHERE name = 'default'")
