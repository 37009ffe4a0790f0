"""Browser sessions in auth: listed with the current one marked, revoked one or
all at a time, ended by logout, rotated at sign-in and at a role change,
ended by idle and absolute expiry, and owned (another user's id is a 404)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from services.auth import sessions
from shared import session_cookie
from shared.internal import TOKEN_HEADER
from tests.accounts import sign_up
from tests.browsers import CONSOLE_ORIGIN, Browser, session_morsel, sign_in
from tests.conftest import INTERNAL_TOKEN, Stack


async def _status(stack: Stack, browser: Browser) -> int:
    return (await stack.gateway.get("/api/me", headers=browser.reads)).status


async def _until_refused(stack: Stack, browser: Browser) -> None:
    started = time.monotonic()
    while await _status(stack, browser) != 401:
        assert time.monotonic() - started < 1.0, "ended session still accepted after 1 s"
        await asyncio.sleep(0.02)


async def _listed(stack: Stack, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await stack.gateway.get("/api/me/sessions", headers=headers)
    assert response.status == 200, await response.text()
    data: list[dict[str, Any]] = (await response.json())["data"]
    return data


async def test_the_list_shows_each_session_and_marks_the_current_one(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    laptop, _ = await sign_in(stack.gateway, account.username, headers={"User-Agent": "Laptop/1"})
    phone, _ = await sign_in(stack.gateway, account.username, headers={"User-Agent": "Phone/2"})
    listed = await _listed(stack, laptop.reads)
    assert {s["id"] for s in listed} == {laptop.session_id, phone.session_id}
    by_id = {s["id"]: s for s in listed}
    assert by_id[laptop.session_id]["current"] is True
    assert by_id[phone.session_id]["current"] is False
    assert by_id[phone.session_id]["user_agent"] == "Phone/2"
    assert by_id[laptop.session_id]["ip"] == "127.0.0.1"
    assert set(by_id[laptop.session_id]) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip",
        "user_agent",
        "current",
    }
    assert not any(s["current"] for s in await _listed(stack, account.headers))  # a JWT has none
    # An API key may not read where its owner signs in.
    key = await stack.gateway.post("/api/keys", json={"name": "k"}, headers=account.headers)
    secret = (await key.json())["key"]
    refused = await stack.gateway.get("/api/me/sessions", headers={"x-api-key": secret})
    assert refused.status == 403


async def test_one_session_is_revoked_and_another_users_is_a_404(stack: Stack) -> None:
    alice = await sign_up(stack.gateway)
    bob = await sign_up(stack.gateway)
    alices, _ = await sign_in(stack.gateway, alice.username)
    bobs, _ = await sign_in(stack.gateway, bob.username)
    for path in (f"/api/me/sessions/{bobs.session_id}", "/api/me/sessions/not-a-uuid"):
        assert (await stack.gateway.delete(path, headers=alices.writes)).status == 404
    assert await _status(stack, bobs) == 200
    revoked = await stack.gateway.delete(
        f"/api/me/sessions/{alices.session_id}", headers=alices.writes
    )
    assert revoked.status == 204
    assert session_morsel(revoked)["max-age"] == "0"  # its own: the cookie is cleared
    await _until_refused(stack, alices)
    again = await stack.gateway.delete(
        f"/api/me/sessions/{alices.session_id}", headers=alice.headers
    )
    assert again.status == 404
    assert await _listed(stack, alice.headers) == []


async def test_signing_out_everywhere_else_keeps_this_session(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    here, _ = await sign_in(stack.gateway, account.username)
    others = [(await sign_in(stack.gateway, account.username))[0] for _ in range(3)]
    for browser in others:
        assert await _status(stack, browser) == 200
    response = await stack.gateway.delete("/api/me/sessions", headers=here.writes)
    assert response.status == 200 and (await response.json()) == {"revoked": 3}
    for browser in others:
        await _until_refused(stack, browser)
    assert await _status(stack, here) == 200
    assert [s["id"] for s in await _listed(stack, here.reads)] == [here.session_id]
    # From a login token (no session of its own) it ends them all.
    response = await stack.gateway.delete("/api/me/sessions", headers=account.headers)
    assert (await response.json()) == {"revoked": 1}
    await _until_refused(stack, here)


async def test_logout_ends_the_session_and_clears_the_cookie(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    other, _ = await sign_in(stack.gateway, account.username)
    assert (await stack.gateway.post("/api/auth/logout", headers=browser.reads)).status == 403
    out = await stack.gateway.post("/api/auth/logout", headers=browser.writes)
    assert out.status == 204
    cleared = session_morsel(out)
    assert cleared.key == browser.cookie_name and cleared.value == ""
    assert cleared["max-age"] == "0" and cleared["secure"] is True and cleared["path"] == "/"
    await _until_refused(stack, browser)
    assert await _status(stack, other) == 200  # only this one ended
    assert (await stack.gateway.post("/api/auth/logout", headers=browser.writes)).status == 401
    events = await (
        await stack.gateway.get("/api/me/security-events", headers=account.headers)
    ).json()
    assert "logout" in [event["kind"] for event in events["data"]]


async def test_a_sign_in_ends_the_session_the_browser_came_with(stack: Stack) -> None:
    alice = await sign_up(stack.gateway)
    bob = await sign_up(stack.gateway)
    first, _ = await sign_in(stack.gateway, alice.username)
    assert await _status(stack, first) == 200
    second, _ = await sign_in(stack.gateway, alice.username, headers=first.reads)
    assert second.cookie != first.cookie and second.session_id != first.session_id
    await _until_refused(stack, first)
    # Signing in as someone else in the same browser ends the other account's session too.
    bobs, _ = await sign_in(stack.gateway, bob.username, headers=second.reads)
    await _until_refused(stack, second)
    assert await _status(stack, bobs) == 200
    # A dead cookie does not stop a sign-in.
    assert (await sign_in(stack.gateway, alice.username, headers=first.reads))[0]


async def test_a_session_sign_in_from_another_site_is_refused(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    body = {"login": account.username, "password": "correct horse battery staple"}
    foreign = await stack.gateway.post(
        "/api/auth/login",
        json={**body, "session": True},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status == 403 and "Set-Cookie" not in foreign.headers
    # Without Origin (not a browser) a session is issued; so is a JWT from anywhere.
    assert (
        await stack.gateway.post("/api/auth/login", json={**body, "session": True})
    ).status == 200
    jwt = await stack.gateway.post(
        "/api/auth/login", json=body, headers={"Origin": "https://evil.example"}
    )
    assert jwt.status == 200 and "access_token" in await jwt.json()
    bad = await stack.gateway.post(
        "/api/auth/login", json={**body, "session": "yes"}, headers={"Origin": CONSOLE_ORIGIN}
    )
    assert bad.status == 422


async def test_a_role_change_ends_every_session_of_the_user(stack: Stack, db: Any) -> None:
    account = await sign_up(stack.gateway)
    browsers = [(await sign_in(stack.gateway, account.username))[0] for _ in range(2)]
    for browser in browsers:
        assert await _status(stack, browser) == 200
    bearer = {"Authorization": f"Bearer {account.token}"}
    assert (await stack.gateway.get("/api/me", headers=bearer)).status == 200
    assert stack.auth.app is not None
    await sessions.set_role(stack.auth.app, uuid.UUID(account.id), "admin")
    for browser in browsers:
        await _until_refused(stack, browser)
    # A JWT issued before carries the old role claim: void too.
    for _ in range(20):
        if (await stack.gateway.get("/api/me", headers=bearer)).status == 401:
            break
        await asyncio.sleep(0.05)
    assert (await stack.gateway.get("/api/me", headers=bearer)).status == 401
    promoted, _ = await sign_in(stack.gateway, account.username)
    me = await (await stack.gateway.get("/api/me", headers=promoted.reads)).json()
    assert me["role"] == "admin"
    # Setting the role it already has ends nothing.
    await sessions.set_role(stack.auth.app, uuid.UUID(account.id), "admin")
    await asyncio.sleep(0.2)
    assert await _status(stack, promoted) == 200


async def test_idle_and_absolute_expiry(stack: Stack, db: Any) -> None:
    """Timestamps are moved in the database before the gateway ever cached the
    session (it asks auth on first use)."""
    account = await sign_up(stack.gateway)
    idle_seconds = stack.auth_settings.session_idle_seconds
    idle, _ = await sign_in(stack.gateway, account.username)
    await db.execute(
        "UPDATE auth.sessions SET last_used_at = now() - make_interval(secs => $2) WHERE id = $1",
        uuid.UUID(idle.session_id),
        idle_seconds + 1,
    )
    assert await _status(stack, idle) == 401
    recent, _ = await sign_in(stack.gateway, account.username)
    await db.execute(
        "UPDATE auth.sessions SET last_used_at = now() - make_interval(secs => $2) WHERE id = $1",
        uuid.UUID(recent.session_id),
        idle_seconds - 120,
    )
    assert await _status(stack, recent) == 200  # and the use refreshed it
    used = await db.fetchval(
        "SELECT last_used_at > now() - interval '1 minute' FROM auth.sessions WHERE id = $1",
        uuid.UUID(recent.session_id),
    )
    assert used is True
    old, _ = await sign_in(stack.gateway, account.username)
    await db.execute(
        "UPDATE auth.sessions SET absolute_expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(old.session_id),
    )
    assert await _status(stack, old) == 401
    listed = {s["id"] for s in await _listed(stack, account.headers)}
    assert listed == {recent.session_id}


async def test_an_absolute_expiry_is_kept_by_a_gateway_that_cached_the_session(
    stack: Stack, db: Any
) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    await db.execute(
        "UPDATE auth.sessions SET absolute_expires_at = now() + interval '1 second' WHERE id = $1",
        uuid.UUID(browser.session_id),
    )
    assert await _status(stack, browser) == 200  # cached now, with its expiry
    await asyncio.sleep(1.1)
    assert await _status(stack, browser) == 401


async def test_the_internal_verify_refuses_garbage(stack: Stack) -> None:
    url = stack.auth.make_url("/internal/sessions/verify")
    session = stack.gateway.session
    headers = {TOKEN_HEADER: INTERNAL_TOKEN}
    for value in ("", "x", "A" * 43, "\x00" * 43, "A" * 199, 7, None):
        response = await session.post(url, json={"session": value}, headers=headers)
        assert response.status in {401, 422}, value
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    assert (await session.post(url, json={"session": browser.cookie})).status == 401  # no token
    verified = await session.post(url, json={"session": browser.cookie}, headers=headers)
    body = await verified.json()
    assert body["session_id"] == browser.session_id and body["user_id"] == account.id


async def test_the_csrf_token_is_bound_to_its_session() -> None:
    one, two = session_cookie.new_value(), session_cookie.new_value()
    assert session_cookie.is_well_formed(one) and one != two
    token = session_cookie.csrf_token(one)
    assert session_cookie.csrf_matches(one, token)
    assert not session_cookie.csrf_matches(two, token)
    assert not session_cookie.csrf_matches(one, token.upper())
    assert not session_cookie.csrf_matches(one, "\udcff" * 43)
    assert len(session_cookie.digest(one)) == 32


async def test_concurrent_sign_ins_with_one_cookie_each_get_their_own_session(
    stack: Stack,
) -> None:
    account = await sign_up(stack.gateway)
    first, _ = await sign_in(stack.gateway, account.username)
    results = await asyncio.gather(
        *(sign_in(stack.gateway, account.username, headers=first.reads) for _ in range(5))
    )
    ids = {browser.session_id for browser, _ in results}
    assert len(ids) == 5
    await _until_refused(stack, first)
    listed = {s["id"] for s in await _listed(stack, account.headers)}
    assert listed == ids


async def test_a_page_gets_its_sessions_csrf_token_again(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    response = await stack.gateway.get("/api/auth/session", headers=browser.reads)
    assert response.status == 200
    body = await response.json()
    assert body["csrf_token"] == browser.csrf
    assert body["session"]["id"] == browser.session_id and body["session"]["current"] is True
    assert browser.cookie not in await response.text()
    # A login token has no session; a client cannot hand auth a token of its own.
    forged = {
        **account.headers,
        "X-Tollgate-Csrf-Token": "x",
        "X-Tollgate-Session": browser.session_id,
    }
    assert (await stack.gateway.get("/api/auth/session", headers=forged)).status == 404
    assert (await stack.gateway.get("/api/auth/session")).status == 401
    await stack.gateway.post("/api/auth/logout", headers=browser.writes)
    assert (await stack.gateway.get("/api/auth/session", headers=browser.reads)).status == 401


async def test_ended_sessions_are_deleted_thirty_days_after_they_ended(
    stack: Stack, db: Any
) -> None:
    account = await sign_up(stack.gateway)
    user_id = uuid.UUID(account.id)
    old_revoked, old_expired, recent, live = [
        (await sign_in(stack.gateway, account.username))[0] for _ in range(4)
    ]
    await db.execute(
        "UPDATE auth.sessions SET revoked_at = now() - interval '31 days' WHERE id = $1",
        uuid.UUID(old_revoked.session_id),
    )
    await db.execute(
        "UPDATE auth.sessions SET absolute_expires_at = now() - interval '31 days' WHERE id = $1",
        uuid.UUID(old_expired.session_id),
    )
    await db.execute(
        "UPDATE auth.sessions SET revoked_at = now() - interval '29 days' WHERE id = $1",
        uuid.UUID(recent.session_id),
    )
    other = await sign_up(stack.gateway)  # anyone's next sign-in does the deleting
    await sign_in(stack.gateway, other.username)
    kept = await db.fetch("SELECT id FROM auth.sessions WHERE user_id = $1", user_id)
    assert {str(row["id"]) for row in kept} == {recent.session_id, live.session_id}
