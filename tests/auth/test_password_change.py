"""Changing the password while signed in: the current password is required
(wrong guesses throttled like logins), the new one is checked, every other
credential stops, and the caller is handed a fresh one (a JWT, or a new
session for a browser)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.accounts import PASSWORD, log_in, refused_within_a_second, sign_up
from tests.browsers import session_morsel, sign_in
from tests.conftest import Stack

NEW_PASSWORD = "changed on purpose 314"


async def test_a_change_voids_the_other_tokens_and_answers_a_fresh_one(
    stack: Stack, db: Any
) -> None:
    account = await sign_up(stack.gateway)
    other_device = await log_in(stack.gateway, account.username)
    changed = await stack.gateway.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert body["status"] == "password_changed" and body["token_type"] == "bearer"
    fresh = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await stack.gateway.get("/api/me", headers=fresh)).status == 200
    for old in (account.token, other_device):
        response = await stack.gateway.get("/api/me", headers={"Authorization": f"Bearer {old}"})
        assert response.status == 401
    await log_in(stack.gateway, account.username, NEW_PASSWORD)
    kinds = await db.fetch(
        "SELECT kind FROM auth.security_events WHERE user_id = $1", uuid.UUID(account.id)
    )
    assert "password_changed" in {r["kind"] for r in kinds}
    notices = await db.fetchval(
        "SELECT count(*) FROM auth.outbox WHERE template = 'password_changed'"
    )
    assert notices == 1


async def test_a_browser_gets_a_new_session_and_the_old_one_ends(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    changed = await stack.gateway.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=browser.writes,
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert "csrf_token" in body and "access_token" not in body
    morsel = session_morsel(changed)
    stack.gateway.session.cookie_jar.clear()
    assert morsel.value != browser.cookie
    await refused_within_a_second(stack.gateway, browser.reads)
    new = await stack.gateway.get("/api/me", headers={"Cookie": f"{morsel.key}={morsel.value}"})
    assert new.status == 200
    # The JWT of the sign-up is void too.
    await refused_within_a_second(stack.gateway, account.headers)


async def test_wrong_current_passwords_are_refused_then_throttled(stack: Stack, db: Any) -> None:
    account = await sign_up(stack.gateway)
    statuses = []
    for _ in range(7):  # the stack allows 5 failures per account and source
        response = await stack.gateway.post(
            "/api/me/password",
            json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
            headers=account.headers,
        )
        statuses.append(response.status)
    assert statuses[:5] == [403] * 5
    assert statuses[5:] == [429, 429]
    assert (await stack.gateway.get("/api/me", headers=account.headers)).status == 200
    failures = await db.fetchval(
        "SELECT count(*) FROM auth.security_events WHERE kind = 'password_check_failed'"
    )
    assert failures == 5


async def test_a_weak_or_malformed_new_password_changes_nothing(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    for body in (
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": account.username + "12345"},
        {"current_password": PASSWORD, "new_password": "x" * 2000},
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": 12345678901},
    ):
        response = await stack.gateway.post("/api/me/password", json=body, headers=account.headers)
        assert response.status == 422, body
    assert (await stack.gateway.get("/api/me", headers=account.headers)).status == 200
    await log_in(stack.gateway, account.username)
