"""Accounts for admins: search, one account, and changes by `PATCH`.

`GET /api/admin/users?q=` finds by email, username (any part, any spelling)
or exact id, a page at a time; `PATCH` changes the group, role and own limits
(suspension: test_suspension.py), each change in the account's security log
with the admin's id; an admin cannot demote themself.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

from tests.accounts import Account, create_key, refused_within_a_second, sign_up
from tests.auth.admins import make_admin
from tests.auth.test_key_verify_policy import _policy
from tests.conftest import Stack


async def _search(stack: Stack, admin: Account, query: str) -> tuple[int, Any]:
    answer = await stack.gateway.get(f"/api/admin/users?{query}", headers=admin.headers)
    return answer.status, await answer.json()


async def _patch(stack: Stack, admin: Account, user_id: str, body: Any) -> tuple[int, Any]:
    answer = await stack.gateway.patch(
        f"/api/admin/users/{user_id}", json=body, headers=admin.headers
    )
    return answer.status, await answer.json()


async def test_search_by_email_username_and_id(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    tag = secrets.token_hex(3)
    ada = await sign_up(stack.gateway, f"ada_{tag}")
    bob = await sign_up(stack.gateway, f"bob_{tag}")
    status, body = await _search(stack, admin, f"q=ADA_{tag}%40EXAMPLE")
    assert status == 200, body
    assert [u["id"] for u in body["data"]] == [ada.id]
    (found,) = body["data"]
    assert found["email"] == ada.email and found["username"] == ada.username
    assert found["group"] == "default" and found["role"] == "user"
    assert found["suspended"] is False and found["suspended_reason"] is None
    assert found["limits"] == {"rpm": None, "tpm": None, "concurrency": None}
    assert "password_hash" not in found and "token_generation" not in found
    status, body = await _search(stack, admin, f"q={tag}")
    assert [u["id"] for u in body["data"]] == [bob.id, ada.id]  # newest first
    status, body = await _search(stack, admin, f"q={bob.id}")
    assert [u["id"] for u in body["data"]] == [bob.id]
    status, body = await _search(stack, admin, "q=%25")  # a literal %, not a wildcard
    assert status == 200 and body["data"] == []
    one = await stack.gateway.get(f"/api/admin/users/{ada.id}", headers=admin.headers)
    assert (await one.json()) == found


async def test_pages_follow_the_cursor_without_gaps_or_repeats(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    tag = secrets.token_hex(3)
    made = [await sign_up(stack.gateway, f"page_{tag}_{n}") for n in range(5)]
    seen: list[str] = []
    query = f"q=page_{tag}&limit=2"
    for _ in range(5):
        status, body = await _search(stack, admin, query)
        assert status == 200, body
        seen += [u["id"] for u in body["data"]]
        if body["next_cursor"] is None:
            break
        query = f"q=page_{tag}&limit=2&cursor={body['next_cursor']}"
    assert seen == [a.id for a in reversed(made)]


async def test_bad_queries_are_422(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    for query in (
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=%C2%B2",
        "limit=99999999999999999999",
        "cursor=nope",
        "q=a%00b",
        "q=" + "x" * 300,
        "q=a&q=b",
    ):
        status, body = await _search(stack, admin, query)
        assert status == 422, (query, body)
    huge = await stack.gateway.get("/api/admin/users?q=" + "x" * 20_000, headers=admin.headers)
    assert huge.status in (400, 414, 422, 431)  # the HTTP parser's own line limit
    unknown = await stack.gateway.get(f"/api/admin/users/{uuid.uuid4()}", headers=admin.headers)
    assert unknown.status == 404
    malformed = await stack.gateway.get("/api/admin/users/not-an-id", headers=admin.headers)
    assert malformed.status == 404


async def test_group_limits_and_role_change_and_are_logged(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    group = f"g-{secrets.token_hex(3)}"
    put = await stack.gateway.put(
        f"/api/admin/groups/{group}", json={"rpm": 60, "tpm": 1000}, headers=admin.headers
    )
    assert put.status == 201
    status, body = await _patch(stack, admin, user.id, {"group": group, "tpm": 77})
    assert status == 200, body
    assert body["group"] == group
    assert body["limits"] == {"rpm": None, "tpm": 77, "concurrency": None}
    policy = (await _policy(stack, user.id))[1]
    assert policy["group"] == group
    assert policy["limits"]["user"] == {"rpm": 60, "tpm": 77, "concurrency": None}
    status, body = await _patch(stack, admin, user.id, {"tpm": None, "role": "admin"})
    assert status == 200 and body["role"] == "admin" and body["limits"]["tpm"] is None
    # The role change voids the user's login tokens (their role claim is stale).
    await refused_within_a_second(stack.gateway, user.headers)
    events = await db.fetch(
        "SELECT kind, detail FROM auth.security_events WHERE user_id = $1 "
        "AND kind IN ('group_assigned', 'limits_changed', 'role_changed') ORDER BY id",
        uuid.UUID(user.id),
    )
    assert [e["kind"] for e in events] == [
        "group_assigned",
        "limits_changed",
        "limits_changed",
        "role_changed",
    ]
    assert all(json.loads(e["detail"])["admin_id"] == admin.id for e in events)
    status, body = await _patch(stack, admin, user.id, {"group": "no-such-group"})
    assert status == 422 and body["error"]["details"] == ["group: no such group"]


async def test_bad_patches_are_422_and_change_nothing(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    refusals: list[tuple[Any, str]] = [
        ({"group": "Bad Name"}, "group"),
        ({"group": "g" * 100_000}, "group"),
        ({"group": 5}, "group"),
        ({"role": "root"}, "role"),
        ({"rpm": 0}, "rpm"),
        ({"concurrency": -3}, "concurrency"),
        ({"tpm": "10"}, "tpm"),
        ({"suspended": {"reason": ""}}, "suspended.reason"),
        ({"suspended": {"reason": "a\nb"}}, "suspended.reason"),
        ({"suspended": {"reason": "x" * 501}}, "suspended.reason"),
        ({"suspended": {"reason": 5}}, "suspended.reason"),
        ({"suspended": {"why": "spam"}}, "suspended"),
        ({"suspended": True}, "suspended"),
        ({"email": "x@example.com"}, "email"),
        ({"token_generation": 0}, "token_generation"),
    ]
    for patch, field in refusals:
        status, body = await _patch(stack, admin, user.id, patch)
        assert status == 422, (patch, body)
        assert any(d.startswith(field) for d in body["error"]["details"]), (patch, body)
    status, body = await _patch(stack, admin, user.id, {"suspended": {"reason": "a\x00"}})
    assert status == 422
    unchanged = await stack.gateway.get(f"/api/admin/users/{user.id}", headers=admin.headers)
    body = await unchanged.json()
    assert body["suspended"] is False and body["role"] == "user" and body["group"] == "default"
    assert (await _patch(stack, admin, str(uuid.uuid4()), {"rpm": 1}))[0] == 404


async def test_an_admin_cannot_demote_or_suspend_themself(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    for patch in ({"role": "user"}, {"suspended": {"reason": "oops"}}):
        status, body = await _patch(stack, admin, admin.id, patch)
        assert status == 422, body
    assert (await stack.gateway.get("/api/me", headers=admin.headers)).status == 200
    status, body = await _patch(stack, admin, admin.id, {"rpm": 5})  # other changes are fine
    assert status == 200 and body["limits"]["rpm"] == 5


async def test_only_admins_and_only_with_a_login(stack: Stack, db: Any) -> None:
    user = await sign_up(stack.gateway)
    for method, path in (
        ("GET", "/api/admin/users"),
        ("GET", f"/api/admin/users/{user.id}"),
        ("PATCH", f"/api/admin/users/{user.id}"),
    ):
        answer = await stack.gateway.request(method, path, json={}, headers=user.headers)
        assert answer.status == 403, (method, path)
    admin = await make_admin(stack, db)
    key = (await create_key(stack.gateway, admin))["key"]
    with_key = await stack.gateway.patch(
        f"/api/admin/users/{user.id}",
        json={"role": "admin"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert with_key.status == 403


async def test_concurrent_patches_apply_one_after_another(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    answers = await asyncio.gather(
        *(
            _patch(stack, admin, user.id, {"rpm": n, "tpm": n, "concurrency": n})
            for n in range(1, 21)
        )
    )
    assert all(status == 200 for status, _ in answers), answers
    final = (await _patch(stack, admin, user.id, {}))[1]["limits"]
    assert len(set(final.values())) == 1
    logged = await db.fetchval(
        "SELECT count(*) FROM auth.security_events WHERE user_id = $1 AND kind = 'limits_changed'",
        uuid.UUID(user.id),
    )
    assert logged == 20
