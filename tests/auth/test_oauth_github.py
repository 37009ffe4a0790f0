"""Sign in with GitHub (OAuth 2 web flow) against the mock, over real HTTP:
the identity is GitHub's numeric user id, the email the primary verified one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.auth.oauth_stack import GITHUB_PERSON, Browser, OAuthStack


@pytest.fixture
async def browser(oauth: OAuthStack) -> AsyncIterator[Browser]:
    browser = Browser(oauth)
    yield browser
    await browser.close()


async def test_a_new_github_user_gets_an_account_keyed_by_id(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    page = await browser.start("github")
    assert str(page.with_query(None)) == f"{oauth.mock_url}/github/login/oauth/authorize"
    assert page.query["scope"] == "read:user user:email"
    assert page.query["code_challenge_method"] == "S256" and len(page.query["state"]) >= 43
    assert page.query["redirect_uri"] == f"{oauth.public_url}/api/auth/oauth/github/callback"
    landed = await browser.back(await browser.consent(page, GITHUB_PERSON))
    assert str(landed) == f"{oauth.public_url}/"
    status, me = await browser.me()
    assert status == 200, me
    assert me["username"] == "octocat" and me["email"] == "octocat@example.com"
    row = await db.fetchrow("SELECT provider, subject, name, avatar_url FROM auth.identities")
    assert dict(row) == {
        "provider": "github",
        "subject": "583231",
        "name": "The Octocat",
        "avatar_url": GITHUB_PERSON["avatar_url"],
    }


async def test_a_renamed_github_user_is_the_same_account(
    oauth: OAuthStack, browser: Browser
) -> None:
    await browser.sign_in("github", GITHUB_PERSON)
    first = (await browser.me())[1]["id"]
    other = Browser(oauth)
    try:
        renamed = {**GITHUB_PERSON, "login": "octocat-renamed", "email": "new@example.com"}
        await other.sign_in("github", renamed)
        assert (await other.me())[1]["id"] == first
    finally:
        await other.close()


async def test_an_unverified_primary_email_creates_no_account(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    person = {k: v for k, v in GITHUB_PERSON.items() if k != "email_verified"}
    landed = await browser.sign_in("github", person)
    assert str(landed) == f"{oauth.public_url}/login?error=oauth_email_unverified"
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


async def test_github_and_google_identities_are_separate(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    # The same subject at two providers is two identities.
    await browser.sign_in("github", {**GITHUB_PERSON, "id": "42", "email": "a@example.com"})
    other = Browser(oauth)
    try:
        google = {"sub": "42", "email": "b@example.com", "email_verified": "true", "name": "B"}
        await other.sign_in("google", google)
        assert (await other.me())[1]["email"] == "b@example.com"
    finally:
        await other.close()
    assert await db.fetchval("SELECT count(*) FROM auth.identities") == 2
