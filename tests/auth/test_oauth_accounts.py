"""Which account a provider sign-in reaches: never one found by email alone.

The pre-hijack cases: an attacker who registered the victim's email with a
password gets nothing when the victim signs in with Google (no sign-in, no
link), and an attacker whose provider identity claims someone's email gets
nothing either; a link happens only when the account's password is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from services.auth.oauth_flow import COOKIE, SECURE_COOKIE
from tests.accounts import PASSWORD
from tests.auth.oauth_stack import GOOGLE_PERSON, Browser, OAuthStack
from tests.conftest import Stack


@pytest.fixture
async def browser(oauth: OAuthStack) -> AsyncIterator[Browser]:
    browser = Browser(oauth)
    yield browser
    await browser.close()


async def sign_up(browser: Browser, email: str, username: str) -> None:
    async with browser.session.post(
        f"{browser.stack.public_url}/api/auth/signup",
        json={"email": email, "username": username, "password": PASSWORD},
    ) as response:
        assert response.status in {201, 202}, await response.text()


async def account_id(db: Any, email: str) -> str:
    return str(await db.fetchval("SELECT id FROM auth.users WHERE email = $1", email))


def link_offer(stack: OAuthStack, location: URL) -> str:
    assert str(location.with_query(None)) == f"{stack.public_url}/login", location
    assert location.query["provider"] == "google"
    return location.query["link_token"]


async def link(browser: Browser, token: str, password: str) -> tuple[int, Any]:
    async with browser.session.post(
        f"{browser.stack.public_url}/api/auth/oauth/link",
        json={"link_token": token, "password": password},
    ) as response:
        return response.status, await response.json()


async def test_a_pre_registered_password_account_is_neither_entered_nor_linked(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    attacker = Browser(oauth)
    try:
        await sign_up(attacker, "alice@example.com", "mallory")
    finally:
        await attacker.close()
    hijacked = await account_id(db, "alice@example.com")
    # Alice, the owner of the address, signs in with Google.
    token = link_offer(oauth, await browser.sign_in("google", GOOGLE_PERSON))
    assert (await browser.me())[0] == 401
    assert await db.fetchval("SELECT count(*) FROM auth.identities") == 0
    # She does not know the attacker's password, so nothing links.
    status, _ = await link(browser, token, "not the attacker's password")
    assert status == 401
    assert await db.fetchval("SELECT count(*) FROM auth.identities") == 0
    assert (await browser.me())[0] == 401
    kinds = await db.fetch(
        "SELECT kind FROM auth.security_events WHERE user_id = $1 ORDER BY id", hijacked
    )
    assert "oauth_link_offered" in [row["kind"] for row in kinds]


async def test_an_identity_claiming_someones_email_does_not_get_into_their_account(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    owner = Browser(oauth)
    try:
        await sign_up(owner, "victim@example.com", "victim")
    finally:
        await owner.close()
    # The attacker's own Google identity (another sub) says it is victim@example.com.
    claim = {**GOOGLE_PERSON, "sub": "666", "email": "victim@example.com"}
    for _ in range(2):
        token = link_offer(oauth, await browser.sign_in("google", claim))
        assert (await browser.me())[0] == 401
    assert (await link(browser, token, "guess-1234567"))[0] == 401
    assert (await link(browser, "made-up-token", PASSWORD))[0] == 400
    assert await db.fetchval("SELECT count(*) FROM auth.identities") == 0


async def test_the_owner_links_by_password_then_signs_in_with_google_directly(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    await sign_up(browser, "alice@example.com", "alice")
    owner = await account_id(db, "alice@example.com")
    token = link_offer(oauth, await browser.sign_in("google", GOOGLE_PERSON))
    status, body = await link(browser, token, PASSWORD)
    assert status == 200, body
    assert "csrf_token" in body
    status, me = await browser.me()
    assert status == 200 and me["id"] == owner
    row = await db.fetchrow("SELECT user_id, subject FROM auth.identities")
    assert str(row["user_id"]) == owner and row["subject"] == GOOGLE_PERSON["sub"]
    # The token was single use.
    assert (await link(browser, token, PASSWORD))[0] == 400
    # From now on Google signs in to that account, from any browser.
    other = Browser(oauth)
    try:
        assert str(await other.sign_in("google", GOOGLE_PERSON)) == f"{oauth.public_url}/"
        assert (await other.me())[1]["id"] == owner
    finally:
        await other.close()


async def test_a_link_posted_from_another_site_is_refused(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    await sign_up(browser, "alice@example.com", "alice")
    token = link_offer(oauth, await browser.sign_in("google", GOOGLE_PERSON))
    async with browser.session.post(
        f"{oauth.public_url}/api/auth/oauth/link",
        json={"link_token": token, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    ) as response:
        assert response.status == 403
    assert await db.fetchval("SELECT count(*) FROM auth.identities") == 0


async def test_link_attempts_are_throttled_as_logins(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    await sign_up(browser, "alice@example.com", "alice")
    token = link_offer(oauth, await browser.sign_in("google", GOOGLE_PERSON))
    statuses = [(await link(browser, token, f"wrong-{i}-password"))[0] for i in range(6)]
    assert statuses == [401] * 5 + [429]
    assert (await link(browser, token, PASSWORD))[0] == 429
    assert await db.fetchval("SELECT count(*) FROM auth.identities") == 0


async def test_a_linked_identity_is_never_moved_by_a_matching_email(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    await browser.sign_in("google", GOOGLE_PERSON)
    first = (await browser.me())[1]["id"]
    other = Browser(oauth)
    try:
        await sign_up(other, "bob@example.com", "bob")
        # The same Google account now reports Bob's address: it still is Alice's identity.
        moved = {**GOOGLE_PERSON, "email": "bob@example.com"}
        assert str(await other.sign_in("google", moved)) == f"{oauth.public_url}/"
        assert (await other.me())[1]["id"] == first
    finally:
        await other.close()


async def test_an_unverified_email_creates_no_account(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    unverified = {k: v for k, v in GOOGLE_PERSON.items() if k != "email_verified"}
    landed = await browser.sign_in("google", unverified)
    assert str(landed) == f"{oauth.public_url}/login?error=oauth_email_unverified"
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


async def test_a_password_login_never_matches_an_account_without_password(
    oauth: OAuthStack, browser: Browser
) -> None:
    await browser.sign_in("google", GOOGLE_PERSON)
    for password in ("", "None", "x" * 12):
        async with browser.session.post(
            f"{oauth.public_url}/api/auth/login",
            json={"login": "alice@example.com", "password": password},
        ) as response:
            assert response.status in {401, 422}, await response.text()


async def test_usernames_are_made_unique(oauth: OAuthStack, browser: Browser, db: Any) -> None:
    await sign_up(browser, "someone@example.com", "alice")
    other = Browser(oauth)
    try:
        await other.sign_in("google", GOOGLE_PERSON)
        username = (await other.me())[1]["username"]
    finally:
        await other.close()
    assert username.startswith("alice-") and len(username) == len("alice-") + 6


async def test_methods_list_the_enabled_providers(oauth: OAuthStack, browser: Browser) -> None:
    async with browser.session.get(f"{oauth.public_url}/api/auth/methods") as response:
        assert await response.json() == {
            "password": True,
            "providers": [
                {"id": "google", "name": "Google", "start_url": "/api/auth/oauth/google/start"},
                {"id": "github", "name": "GitHub", "start_url": "/api/auth/oauth/github/start"},
            ],
        }


async def test_without_settings_no_provider_is_listed_or_started(stack: Stack) -> None:
    response = await stack.gateway.get("/api/auth/methods")
    assert await response.json() == {"password": True, "providers": []}
    for path in ("/api/auth/oauth/google/start", "/api/auth/oauth/github/callback"):
        response = await stack.gateway.get(path, allow_redirects=False)
        assert response.status == 404
    response = await stack.gateway.get("/api/auth/oauth/nope/start", allow_redirects=False)
    assert response.status == 404


async def test_the_binding_cookie_is_host_only_secure_httponly_lax(oauth: OAuthStack) -> None:
    browser = Browser(oauth)
    try:
        async with browser.session.get(
            f"{oauth.public_url}/api/auth/oauth/google/start", allow_redirects=False
        ) as response:
            morsel = response.cookies[COOKIE]
    finally:
        await browser.close()
    assert morsel["httponly"] and morsel["samesite"] == "Lax"
    assert morsel["path"] == "/api/auth/oauth/" and int(morsel["max-age"]) == 600
    assert SECURE_COOKIE == "__Host-" + COOKIE
