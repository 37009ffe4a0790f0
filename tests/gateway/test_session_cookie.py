"""The browser session cookie at the gateway: flags, CSRF and Origin checks,
`/api/*` only, revocation within a second on a running gateway."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis

from services.auth.app import create_app as create_auth
from services.gateway.app import create_app as create_gateway
from shared import invalidation
from tests.accounts import Account, sign_up
from tests.browsers import CONSOLE_ORIGIN, Browser, session_morsel, sign_in
from tests.conftest import AiohttpClient, AiohttpServer, Stack

_CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def _status(stack: Stack, browser: Browser) -> int:
    return (await stack.gateway.get("/api/me", headers=browser.reads)).status


async def _stops_within_a_second(stack: Stack, browser: Browser) -> None:
    started = time.monotonic()
    while (status := await _status(stack, browser)) != 401:
        assert status == 200
        assert time.monotonic() - started < 1.0, "ended session still accepted after 1 s"
        await asyncio.sleep(0.02)


async def test_the_cookie_is_httponly_lax_secure_and_the_answer_holds_no_jwt(
    stack: Stack,
) -> None:
    account = await sign_up(stack.gateway)
    browser, response = await sign_in(stack.gateway, account.username)
    morsel = session_morsel(response)
    assert morsel.key == "__Host-tg_session"
    assert morsel["httponly"] is True and morsel["secure"] is True
    assert morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert morsel["max-age"] == str(stack.auth_settings.session_absolute_seconds)
    assert not morsel["domain"]  # host-only
    body = await response.json()
    assert "access_token" not in body
    assert body["session"]["current"] is True and body["csrf_token"] == browser.csrf
    assert browser.cookie not in await response.text()  # the value rides in the cookie only
    assert len(browser.cookie) == 43  # 256 random bits


async def test_a_jwt_login_sets_no_cookie(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    response = await stack.gateway.post(
        "/api/auth/login",
        json={"login": account.username, "password": "correct horse battery staple"},
    )
    assert response.status == 200 and "access_token" in await response.json()
    assert "Set-Cookie" not in response.headers


async def test_without_secure_the_cookie_has_no_prefix_and_no_secure_flag(
    stack: Stack, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    auth = await aiohttp_server(
        create_auth(replace(stack.auth_settings, session_cookie_secure=False))
    )
    gateway = await aiohttp_client(
        create_gateway(
            replace(
                stack.gateway_settings,
                auth_url=str(auth.make_url("")).rstrip("/"),
                session_cookie_secure=False,
                spool_dir=stack.common.data_dir / "spool-insecure",
            )
        )
    )
    account = await sign_up(gateway)
    browser, response = await sign_in(gateway, account.username)
    morsel = session_morsel(response)
    assert morsel.key == "tg_session" and not morsel["secure"] and morsel["httponly"] is True
    assert (await gateway.get("/api/me", headers=browser.reads)).status == 200
    # The other name is not this gateway's cookie.
    other = {"Cookie": f"__Host-tg_session={browser.cookie}"}
    assert (await gateway.get("/api/me", headers=other)).status == 401


async def test_the_cookie_reads_the_account_without_a_csrf_token(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    response = await stack.gateway.get("/api/me", headers=browser.reads)
    assert response.status == 200
    assert (await response.json())["id"] == account.id
    assert (await stack.gateway.get("/api/keys", headers=browser.reads)).status == 200
    assert (await stack.gateway.get("/api/me")).status == 401  # no cookie, nothing


async def test_unsafe_requests_need_the_console_origin_and_the_csrf_token(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    other, _ = await sign_in(stack.gateway, account.username)
    change = {"display_name": "Ada"}
    refused: list[tuple[dict[str, str], str]] = [
        (browser.reads, "Origin"),  # neither
        ({**browser.reads, "X-CSRF-Token": browser.csrf}, "Origin"),
        ({**browser.writes, "Origin": "https://evil.example"}, "Origin"),
        ({**browser.writes, "Origin": "null"}, "Origin"),
        ({**browser.writes, "Origin": CONSOLE_ORIGIN + ".evil.example"}, "Origin"),
        ({**browser.reads, "Origin": CONSOLE_ORIGIN}, "X-CSRF-Token"),
        ({**browser.writes, "X-CSRF-Token": other.csrf}, "X-CSRF-Token"),  # another session's
        ({**browser.writes, "X-CSRF-Token": browser.csrf[:-1]}, "X-CSRF-Token"),
        ({**browser.writes, "X-CSRF-Token": "é" * 43}, "X-CSRF-Token"),
    ]
    for headers, named in refused:
        for method in ("PATCH", "POST", "PUT", "DELETE"):
            response = await stack.gateway.request(method, "/api/me", json=change, headers=headers)
            assert response.status == 403, (method, headers)
            error = (await response.json())["error"]
            assert error["code"] == "forbidden" and named in error["message"], error
    me = await (await stack.gateway.get("/api/me", headers=browser.reads)).json()
    assert me["display_name"] is None  # nothing got through
    response = await stack.gateway.patch("/api/me", json=change, headers=browser.writes)
    assert response.status == 200, await response.text()
    assert (await response.json())["display_name"] == "Ada"
    created = await stack.gateway.post("/api/keys", json={"name": "web"}, headers=browser.writes)
    assert created.status == 201


async def test_a_bearer_credential_wins_over_the_cookie_and_needs_no_csrf(stack: Stack) -> None:
    alice = await sign_up(stack.gateway)
    bob = await sign_up(stack.gateway)
    alices, _ = await sign_in(stack.gateway, alice.username)
    headers = {**alices.reads, **bob.headers}
    response = await stack.gateway.get("/api/me", headers=headers)
    assert (await response.json())["id"] == bob.id
    patched = await stack.gateway.patch("/api/me", json={"display_name": "B"}, headers=headers)
    assert patched.status == 200 and (await patched.json())["id"] == bob.id


async def test_the_cookie_is_never_a_credential_on_the_relay_paths(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    for path in (
        "/v1/chat/completions",
        "/v1/messages",
        "/v1beta/models/gemini-2.0-flash:generateContent",
    ):
        response = await stack.gateway.post(path, json=_CHAT, headers=browser.writes)
        assert response.status == 401, path
    for path in ("/v1/models", "/v1beta/models"):
        assert (await stack.gateway.get(path, headers=browser.reads)).status == 401, path


async def test_a_client_cannot_claim_a_session_id(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    forged = {**account.headers, "X-Tollgate-Session": browser.session_id}
    listing = await (await stack.gateway.get("/api/me/sessions", headers=forged)).json()
    assert [s["current"] for s in listing["data"]] == [False]
    out = await stack.gateway.post("/api/auth/logout", headers=forged)
    assert out.status == 204
    assert await _status(stack, browser) == 200  # the JWT's logout ended no session


async def test_a_revoked_session_stops_within_one_second_on_a_running_gateway(
    stack: Stack,
) -> None:
    account = await sign_up(stack.gateway)
    browser, _ = await sign_in(stack.gateway, account.username)
    for _ in range(3):  # warm the gateway's cache: refusing now needs the notice
        assert await _status(stack, browser) == 200
    revoked = await stack.gateway.delete(
        f"/api/me/sessions/{browser.session_id}", headers=account.headers
    )
    assert revoked.status == 204
    await _stops_within_a_second(stack, browser)


async def test_sessions_stop_within_one_second_when_the_users_credentials_change(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    """What a password reset does (auth bumps the token generation and publishes
    the user id): every older session of the user ends; others' do not."""
    account = await sign_up(stack.gateway)
    bystander = await sign_up(stack.gateway)
    browsers = [(await sign_in(stack.gateway, account.username))[0] for _ in range(2)]
    theirs, _ = await sign_in(stack.gateway, bystander.username)
    for browser in [*browsers, theirs]:
        assert await _status(stack, browser) == 200
    await db.execute(
        "UPDATE auth.users SET token_generation = token_generation + 1 WHERE id = $1",
        uuid.UUID(account.id),
    )
    await invalidation.publish(redis, invalidation.USER_CREDENTIALS_CHANGED, account.id)
    for browser in browsers:
        await _stops_within_a_second(stack, browser)
    assert await _status(stack, theirs) == 200
    fresh, _ = await sign_in(stack.gateway, account.username)  # a new sign-in works again
    assert await _status(stack, fresh) == 200


async def test_an_admin_session_manages_channels_after_the_csrf_checks(
    stack: Stack, admin: Account
) -> None:
    browser, _ = await sign_in(stack.gateway, admin.username)
    assert (await stack.gateway.get("/api/admin/channels", headers=browser.reads)).status == 200
    channel = {
        "name": "web",
        "kind": "openai",
        "base_url": str(stack.mock.make_url("")).rstrip("/"),
        "api_key": "upstream",
        "models": ["gpt-4o-mini"],
        "allow_private_network": True,
    }
    post = await stack.gateway.post("/api/admin/channels", json=channel, headers=browser.reads)
    assert post.status == 403
    post = await stack.gateway.post("/api/admin/channels", json=channel, headers=browser.writes)
    assert post.status == 201, await post.text()


async def test_malformed_cookies_are_401_and_never_reach_a_500(stack: Stack) -> None:
    for value in ("x", "A" * 42, "A" * 44, "A" * 4000, "%00" * 20, "é" * 43, "A" * 42 + "="):
        response = await stack.gateway.get(
            "/api/me", headers={"Cookie": f"__Host-tg_session={value}"}
        )
        assert response.status in {400, 401}, value
    unknown = "B" * 43  # well formed, no such session
    response = await stack.gateway.get(
        "/api/me", headers={"Cookie": f"__Host-tg_session={unknown}"}
    )
    assert response.status == 401


async def test_a_password_reset_stops_every_session_within_one_second(
    stack: Stack, db: Any
) -> None:
    """The whole path: the mailed reset token, confirmed with a new password,
    ends the sessions a running gateway has cached."""
    from tests.auth.account_mail import queued_token

    account = await sign_up(stack.gateway)
    browsers = [(await sign_in(stack.gateway, account.username))[0] for _ in range(2)]
    for browser in browsers:
        assert await _status(stack, browser) == 200
    asked = await stack.gateway.post("/api/auth/password-reset", json={"email": account.email})
    assert asked.status == 202
    token = await queued_token(db, "reset_password")
    confirmed = await stack.gateway.post(
        "/api/auth/password-reset/confirm",
        json={"token": token, "password": "a brand new passphrase 42"},
    )
    assert confirmed.status in {200, 204}, await confirmed.text()
    for browser in browsers:
        await _stops_within_a_second(stack, browser)
    assert (await stack.gateway.get("/api/me", headers=account.headers)).status == 401  # JWT too
    fresh, _ = await sign_in(stack.gateway, account.username, "a brand new passphrase 42")
    listed = await (await stack.gateway.get("/api/me/sessions", headers=fresh.reads)).json()
    assert [s["id"] for s in listed["data"]] == [fresh.session_id]
