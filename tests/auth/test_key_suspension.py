"""A key suspended on its own (issue 19, point 5; services/auth/key_suspension.py).

Billing's spend anomaly asks auth to suspend a key; the key is refused with
403 key_suspended on every gateway within a second, its owner resumes it
signed in. Real auth, gateway, PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import ClientResponse

from shared.internal import TOKEN_HEADER
from tests.accounts import Account, create_key, sign_up
from tests.billing.conftest import make_admin
from tests.conftest import INTERNAL_TOKEN, Stack

INTERNAL = {TOKEN_HEADER: INTERNAL_TOKEN}


async def _suspend(stack: Stack, key_id: str, body: Any) -> ClientResponse:
    response = await stack.gateway.session.post(
        stack.auth.make_url(f"/internal/keys/{key_id}/suspend"), json=body, headers=INTERNAL
    )
    await response.read()
    return response


async def _verify(stack: Stack, secret: str) -> ClientResponse:
    response = await stack.gateway.session.post(
        stack.auth.make_url("/internal/keys/verify"), json={"key": secret}, headers=INTERNAL
    )
    await response.read()
    return response


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _keyed(stack: Stack) -> tuple[Account, dict[str, Any]]:
    user = await sign_up(stack.gateway)
    return user, await create_key(stack.gateway, user, name="ci")


async def test_a_suspended_key_is_refused_everywhere_within_a_second(stack: Stack) -> None:
    user, key = await _keyed(stack)
    assert (await stack.gateway.get("/api/me", headers=_bearer(key["key"]))).status == 200
    answer = await _suspend(stack, key["id"], {"user_id": user.id, "reason": "spend anomaly"})
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert body["name"] == "ci" and body["prefix"] == key["prefix"]
    assert body["suspended_at"] is not None and body["suspended_reason"] == "spend anomaly"

    for _ in range(20):
        refused = await stack.gateway.get("/api/me", headers=_bearer(key["key"]))
        if refused.status == 403:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the suspended key still worked a second later")
    assert (await refused.json())["error"] == {
        "code": "key_suspended",
        "message": "this API key is suspended: spend anomaly",
    }
    # On a relay path too, in the client's own format, before any upstream call.
    relayed = await stack.gateway.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers=_bearer(key["key"]),
    )
    assert relayed.status == 403
    assert "key_suspended" in await relayed.text()
    verified = await _verify(stack, key["key"])
    assert verified.status == 403
    assert (await verified.json())["error"] == {
        "code": "key_suspended",
        "message": "this API key is suspended: spend anomaly",
    }
    # The account is not: it signs in, and its other keys work.
    other = await create_key(stack.gateway, user, name="other")
    assert (await stack.gateway.get("/api/me", headers=_bearer(other["key"]))).status == 200


async def test_suspending_twice_keeps_the_first_reason_and_logs_once(stack: Stack, db: Any) -> None:
    user, key = await _keyed(stack)
    answers = await asyncio.gather(
        *(_suspend(stack, key["id"], {"user_id": user.id, "reason": f"r{i}"}) for i in range(8))
    )
    assert {a.status for a in answers} == {200}
    reasons = {(await a.json())["suspended_reason"] for a in answers}
    assert len(reasons) == 1
    logged = await db.fetchval(
        "SELECT count(*) FROM auth.security_events WHERE user_id = $1 AND kind = 'key_suspended'",
        uuid.UUID(user.id),
    )
    assert logged == 1


async def test_suspend_refuses_bad_input_and_other_keys(stack: Stack) -> None:
    user, key = await _keyed(stack)
    stranger = await sign_up(stack.gateway)
    for bad in (
        {"user_id": user.id},
        {"user_id": user.id, "reason": "  "},
        {"user_id": user.id, "reason": "a\x00b"},
        {"user_id": user.id, "reason": "x" * 1001},
        {"user_id": "not-a-uuid", "reason": "r"},
        {"user_id": user.id, "reason": "r", "extra": 1},
        {"reason": "r"},
    ):
        assert (await _suspend(stack, key["id"], bad)).status == 422, bad
    assert (await _suspend(stack, key["id"], {"user_id": stranger.id, "reason": "r"})).status == 404
    assert (await _suspend(stack, "nope", {"user_id": user.id, "reason": "r"})).status == 404
    revoked = await create_key(stack.gateway, user, name="gone")
    deleted = await stack.gateway.delete(f"/api/keys/{revoked['id']}", headers=user.headers)
    assert deleted.status == 204
    assert (await _suspend(stack, revoked["id"], {"user_id": user.id, "reason": "r"})).status == 404
    # Never reachable from outside: the gateway routes no /internal path.
    outside = await stack.gateway.post(
        f"/internal/keys/{key['id']}/suspend", json={"user_id": user.id, "reason": "r"}
    )
    assert outside.status in (401, 404)
    assert (await _verify(stack, key["key"])).status == 200


async def test_the_owner_resumes_the_key_signed_in(stack: Stack) -> None:
    user, key = await _keyed(stack)
    stranger = await sign_up(stack.gateway)
    await _suspend(stack, key["id"], {"user_id": user.id, "reason": "spend anomaly"})
    listed = await stack.gateway.get("/api/keys", headers=user.headers)
    (shown,) = (await listed.json())["data"]
    assert shown["suspended_reason"] == "spend anomaly" and shown["suspended_at"] is not None

    path = f"/api/keys/{key['id']}/resume"
    other_key = await create_key(stack.gateway, user, name="other")
    with_key = await stack.gateway.post(path, headers=_bearer(other_key["key"]))
    assert with_key.status == 403  # a login, never an API key
    assert (await stack.gateway.post(path, headers=stranger.headers)).status == 404
    assert (await stack.gateway.post(path)).status == 401
    assert (await stack.gateway.post("/api/keys/nope/resume", headers=user.headers)).status == 404
    assert (await _verify(stack, key["key"])).status == 403

    for _ in range(2):  # a retried click is answered the same
        resumed = await stack.gateway.post(path, headers=user.headers)
        assert resumed.status == 200, await resumed.text()
        body = await resumed.json()
        assert body["id"] == key["id"] and body["suspended_at"] is None
    assert (await _verify(stack, key["key"])).status == 200
    assert (await stack.gateway.get("/api/me", headers=_bearer(key["key"]))).status == 200


async def test_internal_key_facts_and_admin_contacts(stack: Stack, db: Any) -> None:
    user, key = await _keyed(stack)
    admin = await make_admin(stack, db)
    facts = await stack.gateway.session.get(
        stack.auth.make_url(f"/internal/keys/{key['id']}"), headers=INTERNAL
    )
    assert facts.status == 200
    assert await facts.json() == {
        "key_id": key["id"],
        "user_id": user.id,
        "name": "ci",
        "prefix": key["prefix"],
        "suspended_at": None,
        "suspended_reason": None,
        "revoked": False,
    }
    missing = await stack.gateway.session.get(
        stack.auth.make_url(f"/internal/keys/{uuid.uuid4()}"), headers=INTERNAL
    )
    assert missing.status == 404
    admins = await stack.gateway.session.get(
        stack.auth.make_url("/internal/admins/contacts"), headers=INTERNAL
    )
    assert admins.status == 200
    assert [a["email"] for a in (await admins.json())["data"]] == [admin.email]
    no_token = await stack.gateway.session.get(stack.auth.make_url("/internal/admins/contacts"))
    assert no_token.status == 401
