"""Sign in with Google (OpenID Connect) against the mock issuer, over real HTTP:
the browser walks the redirects, the mock signs real RS256 ID tokens, and
every forged or misplaced token, state or code is refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from tests.auth.oauth_stack import GOOGLE_PERSON, Browser, OAuthStack


@pytest.fixture
async def browser(oauth: OAuthStack) -> AsyncIterator[Browser]:
    browser = Browser(oauth)
    yield browser
    await browser.close()


def refused(stack: OAuthStack, location: URL, error: str = "oauth_failed") -> bool:
    return str(location) == f"{stack.public_url}/login?error={error}"


async def identities(db: Any) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM auth.identities ORDER BY id")
    return [dict(row) for row in rows]


async def test_a_new_google_user_gets_an_account_keyed_by_sub(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    page = await browser.start("google")
    assert str(page.with_query(None)) == f"{oauth.mock_url}/google/o/oauth2/v2/auth"
    query = page.query
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == f"{oauth.public_url}/api/auth/oauth/google/callback"
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    landed = await browser.back(await browser.consent(page, GOOGLE_PERSON))
    assert str(landed) == f"{oauth.public_url}/"
    status, me = await browser.me()
    assert status == 200, me
    assert me["email"] == "alice@example.com" and me["email_verified"] is True
    assert me["username"] == "alice" and me["display_name"] == "Alice Example"
    (identity,) = await identities(db)
    assert identity["provider"] == "google" and identity["subject"] == GOOGLE_PERSON["sub"]
    assert identity["avatar_url"] == "https://example.com/alice.png"
    user = await db.fetchrow(
        "SELECT password_hash FROM auth.users WHERE id = $1", identity["user_id"]
    )
    assert user["password_hash"] is None


async def test_the_second_sign_in_finds_the_account_by_sub_even_with_a_new_email(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    await browser.sign_in("google", GOOGLE_PERSON)
    _, first = await browser.me()
    other = Browser(oauth)
    try:
        moved = {**GOOGLE_PERSON, "email": "alice@elsewhere.example", "name": "Alice E."}
        assert str(await other.sign_in("google", moved)) == f"{oauth.public_url}/"
        status, again = await other.me()
    finally:
        await other.close()
    assert status == 200 and again["id"] == first["id"]
    (identity,) = await identities(db)
    assert identity["email"] == "alice@elsewhere.example" and identity["name"] == "Alice E."
    assert identity["last_login_at"] is not None
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 1


@pytest.mark.parametrize(
    "forgery",
    [
        "wrong_key",
        "unknown_kid",
        "wrong_aud",
        "wrong_iss",
        "expired",
        "alg_none",
        "hs256",
        "no_nonce",
    ],
)
async def test_a_forged_id_token_is_refused(
    oauth: OAuthStack, browser: Browser, db: Any, forgery: str
) -> None:
    landed = await browser.sign_in("google", GOOGLE_PERSON, mock_forge=forgery)
    assert refused(oauth, landed)
    assert (await browser.me())[0] == 401
    assert await identities(db) == []
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0
    event = await db.fetchrow("SELECT kind, detail FROM auth.security_events")
    assert event["kind"] == "oauth_failed"
    assert json.loads(event["detail"]) == {"provider": "google", "reason": "id_token_invalid"}


async def test_a_replayed_id_token_and_a_replayed_nonce_are_refused(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    first_page = await browser.start("google")
    await browser.back(await browser.consent(first_page, GOOGLE_PERSON))
    attacker = Browser(oauth)
    try:
        # The genuine token of the first sign-in, byte for byte, in another sign-in.
        assert refused(oauth, await attacker.sign_in("google", GOOGLE_PERSON, mock_forge="replay"))
        # A fresh, well-signed token carrying the first sign-in's nonce.
        old_nonce = first_page.query["nonce"]
        assert refused(oauth, await attacker.sign_in("google", GOOGLE_PERSON, mock_nonce=old_nonce))
        assert (await attacker.me())[0] == 401
    finally:
        await attacker.close()
    reasons = await db.fetch(
        "SELECT detail->>'reason' AS reason FROM auth.security_events WHERE kind = 'oauth_failed'"
    )
    assert [row["reason"] for row in reasons] == ["id_token_invalid", "id_token_invalid"]


async def test_a_rotated_signing_key_is_fetched_again(oauth: OAuthStack, browser: Browser) -> None:
    await browser.sign_in("google", GOOGLE_PERSON)  # auth now holds the JWKS
    async with browser.session.post(f"{oauth.mock_url}/google/mock/rotate-key") as rotated:
        assert rotated.status == 204
    other = Browser(oauth)
    try:
        assert str(await other.sign_in("google", GOOGLE_PERSON)) == f"{oauth.public_url}/"
    finally:
        await other.close()
