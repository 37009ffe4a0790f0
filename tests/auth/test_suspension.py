"""Suspension: an admin's `PATCH /api/admin/users/{id} {"suspended": {"reason"}}`.

The account's keys, JWTs and browser sessions are refused on a running
gateway within a second, with the reason; signing in again is 403
`account_suspended`; lifting the suspension gives the keys back (nothing
else was revoked) while the old logins stay void.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from shared import session_cookie
from shared.internal import TOKEN_HEADER
from tests.accounts import PASSWORD, Account, create_key, sign_up
from tests.auth.admins import make_admin
from tests.auth.oauth_stack import GOOGLE_PERSON, Browser, OAuthStack
from tests.auth.test_key_verify_policy import _policy, _verify
from tests.conftest import INTERNAL_TOKEN, Stack


async def _suspend(stack: Stack, admin: Account, user: Account, reason: str | None) -> Any:
    body = {"suspended": None if reason is None else {"reason": reason}}
    answer = await stack.gateway.patch(
        f"/api/admin/users/{user.id}", json=body, headers=admin.headers
    )
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def _refused_within_a_second(stack: Stack, headers: dict[str, str]) -> Any:
    for _ in range(20):
        answer = await stack.gateway.get("/api/me", headers=headers)
        if answer.status in (401, 403):
            return answer.status, await answer.json()
        assert answer.status == 200, await answer.text()
        await asyncio.sleep(0.05)
    raise AssertionError("the suspended account's credential still worked after a second")


async def test_suspension_refuses_keys_and_logins_within_a_second(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    key = await create_key(stack.gateway, user)
    bearer = {"Authorization": f"Bearer {key['key']}"}
    # Warm the gateway's caches: refusing now needs the notice.
    assert (await stack.gateway.get("/api/me", headers=bearer)).status == 200
    assert (await stack.gateway.get("/api/me", headers=user.headers)).status == 200
    body = await _suspend(stack, admin, user, "payment fraud")
    assert body["suspended"] is True and body["suspended_reason"] == "payment fraud"
    assert body["suspended_at"] is not None
    status, refusal = await _refused_within_a_second(stack, bearer)
    assert status == 403
    assert refusal["error"]["message"] == "this account is suspended: payment fraud"
    assert (await _refused_within_a_second(stack, user.headers))[0] == 401
    login = await stack.gateway.post(
        "/api/auth/login", json={"login": user.username, "password": PASSWORD}
    )
    assert login.status == 403
    assert (await login.json())["error"]["code"] == "account_suspended"
    wrong = await stack.gateway.post(
        "/api/auth/login", json={"login": user.username, "password": "not the password"}
    )
    assert wrong.status == 401  # the suspension is told only to who proves the password
    assert (await _policy(stack, user.id))[1]["suspended"] is True
    events = await db.fetch(
        "SELECT detail FROM auth.security_events WHERE user_id = $1 AND kind = $2",
        uuid.UUID(user.id),
        "account_suspended",
    )
    assert len(events) == 1 and admin.id in events[0]["detail"]


async def test_lifting_gives_the_keys_back_but_not_the_old_logins(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    key = await create_key(stack.gateway, user)
    await _suspend(stack, admin, user, "checking")
    assert (await _verify(stack, key["key"]))[0] == 403
    body = await _suspend(stack, admin, user, None)
    assert body["suspended"] is False and body["suspended_reason"] is None
    status, verified = await _verify(stack, key["key"])
    assert status == 200, verified
    assert (await stack.gateway.get("/api/me", headers=user.headers)).status == 401
    login = await stack.gateway.post(
        "/api/auth/login", json={"login": user.username, "password": PASSWORD}
    )
    assert login.status == 200
    kinds = await db.fetch(
        "SELECT kind FROM auth.security_events WHERE user_id = $1 "
        "AND kind LIKE 'account_%' ORDER BY id",
        uuid.UUID(user.id),
    )
    assert [k["kind"] for k in kinds] == ["account_suspended", "account_unsuspended"]


async def test_a_suspended_accounts_session_is_refused(stack: Stack, db: Any) -> None:
    """`/internal/sessions/verify` refuses the session of a suspended account,
    even one whose generation would still pass (set here by hand)."""
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    login = await stack.gateway.post(
        "/api/auth/login",
        json={"login": user.username, "password": PASSWORD, "session": True},
    )
    assert login.status == 200, await login.text()
    cookie = next(iter(login.cookies.values())).value
    await _suspend(stack, admin, user, "spam")
    await db.execute(
        "UPDATE auth.sessions SET generation = generation + 1 WHERE user_id = $1",
        uuid.UUID(user.id),
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(
            stack.auth.make_url("/internal/sessions/verify"),
            json={"session": cookie},
            headers={TOKEN_HEADER: INTERNAL_TOKEN},
        ) as answer:
            assert answer.status == 401
            assert "suspended: spam" in (await answer.json())["error"]["message"]


async def test_suspending_twice_keeps_the_first_time_and_bumps_once(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    first = await _suspend(stack, admin, user, "one")
    generation = await db.fetchval(
        "SELECT token_generation FROM auth.users WHERE id = $1", uuid.UUID(user.id)
    )
    second = await _suspend(stack, admin, user, "two")
    assert second["suspended_at"] == first["suspended_at"]
    assert second["suspended_reason"] == "two"
    assert generation == await db.fetchval(
        "SELECT token_generation FROM auth.users WHERE id = $1", uuid.UUID(user.id)
    )


async def test_a_suspended_account_cannot_sign_in_with_a_provider(
    oauth: OAuthStack, db: Any
) -> None:
    browser = Browser(oauth)
    try:
        landed = await browser.sign_in("google", GOOGLE_PERSON)  # makes the account
        assert str(landed) == f"{oauth.public_url}/"
        await db.execute(
            "UPDATE auth.users SET suspended_at = now(), suspended_reason = 'chargebacks' "
            "WHERE email = $1",
            GOOGLE_PERSON["email"],
        )
        again = Browser(oauth)
        try:
            page = await again.start("google")
            callback = await again.consent(page, GOOGLE_PERSON)
            async with again.session.get(callback, allow_redirects=False) as answer:
                assert answer.status == 302
                assert answer.headers["Location"] == (
                    f"{oauth.public_url}/login?error=account_suspended"
                )
            cookies = " ".join(answer.headers.getall("Set-Cookie", []))
            assert session_cookie.cookie_name(False) not in cookies  # no session handed out
        finally:
            await again.close()
    finally:
        await browser.close()
