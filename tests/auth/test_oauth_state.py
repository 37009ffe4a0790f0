"""The sign-in state and the code: a state is used once, only in the browser
that started it and only for its provider; a code only with its own PKCE
verifier. Each refusal is a redirect to the sign-in page, never a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from tests.auth.oauth_stack import GITHUB_PERSON, GOOGLE_PERSON, Browser, OAuthStack


@pytest.fixture
async def browser(oauth: OAuthStack) -> AsyncIterator[Browser]:
    browser = Browser(oauth)
    yield browser
    await browser.close()


@pytest.fixture
async def attacker(oauth: OAuthStack) -> AsyncIterator[Browser]:
    browser = Browser(oauth)
    yield browser
    await browser.close()


async def reasons(db: Any) -> list[str]:
    rows = await db.fetch(
        "SELECT detail FROM auth.security_events WHERE kind = 'oauth_failed' ORDER BY id"
    )
    return [json.loads(row["detail"])["reason"] for row in rows]


def refused(stack: OAuthStack, location: URL) -> bool:
    return str(location) == f"{stack.public_url}/login?error=oauth_failed"


async def test_a_wrong_or_missing_state_is_refused(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    callback = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    forged = callback.update_query(state="x" * 43)
    assert refused(oauth, await browser.back(forged))
    missing = callback.with_query({k: v for k, v in callback.query.items() if k != "state"})
    assert refused(oauth, await browser.back(missing))
    huge = callback.update_query(state="s" * 5000)
    assert refused(oauth, await browser.back(huge))
    assert (await browser.me())[0] == 401
    assert await reasons(db) == ["state_unknown", "state_missing", "state_missing"]


async def test_a_state_is_used_once(oauth: OAuthStack, browser: Browser, db: Any) -> None:
    callback = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    assert str(await browser.back(callback)) == f"{oauth.public_url}/"
    assert refused(oauth, await browser.back(callback))
    assert await reasons(db) == ["state_unknown"]


async def test_a_state_from_another_browser_is_refused(
    oauth: OAuthStack, browser: Browser, attacker: Browser, db: Any
) -> None:
    # Login CSRF: the attacker starts a sign-in as themself and hands the
    # victim the callback URL (code and state); the victim's browser has no
    # cookie for that state, so nobody is signed in there.
    callback = await attacker.consent(await attacker.start("google"), GOOGLE_PERSON)
    assert refused(oauth, await browser.back(callback))
    assert (await browser.me())[0] == 401
    # The state is spent: the attacker cannot use it either.
    assert refused(oauth, await attacker.back(callback))
    assert await reasons(db) == ["state_other_browser", "state_unknown"]


async def test_a_state_of_one_provider_is_refused_at_the_other(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    callback = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    at_github = callback.with_path("/api/auth/oauth/github/callback").with_query(callback.query)
    assert refused(oauth, await browser.back(at_github))
    assert await reasons(db) == ["state_other_provider"]


@pytest.mark.parametrize(
    ("provider", "person"), [("google", GOOGLE_PERSON), ("github", GITHUB_PERSON)]
)
async def test_an_injected_code_fails_its_pkce_check(
    oauth: OAuthStack,
    browser: Browser,
    attacker: Browser,
    db: Any,
    provider: str,
    person: dict[str, str],
) -> None:
    # The attacker's code (issued for the attacker's PKCE challenge) put into
    # the victim's own sign-in: exchanged with the victim's verifier, the
    # provider refuses it.
    stolen = await attacker.consent(await attacker.start(provider), person)
    mine = await browser.consent(await browser.start(provider), person)
    injected = mine.update_query(code=stolen.query["code"])
    assert refused(oauth, await browser.back(injected))
    assert (await browser.me())[0] == 401
    assert await reasons(db) == ["token_refused"]


async def test_a_response_naming_another_issuer_is_refused(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    # RFC 9207: the issuer says who answered; a mix-up with another one is refused.
    callback = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    assert callback.query["iss"] == f"{oauth.mock_url}/google"
    assert refused(oauth, await browser.back(callback.update_query(iss="https://evil.example")))
    assert await reasons(db) == ["issuer_mismatch"]


async def test_a_cancelled_sign_in_says_so(oauth: OAuthStack, browser: Browser) -> None:
    page = await browser.start("google")
    callback = await browser.consent(page, GOOGLE_PERSON, action="deny")
    assert callback.query["error"] == "access_denied"
    landed = await browser.back(callback)
    assert str(landed) == f"{oauth.public_url}/login?error=oauth_cancelled"


async def test_no_code_and_a_huge_code_are_refused(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    callback = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    assert refused(oauth, await browser.back(callback.update_query(code="")))
    callback = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    assert refused(oauth, await browser.back(callback.update_query(code="c" * 3000)))
    assert await reasons(db) == ["code_missing", "code_missing"]


async def test_the_provider_being_down_is_a_redirect_not_a_500(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    callback = await browser.consent(await browser.start("github"), GITHUB_PERSON)
    await oauth.mock.close()
    landed = await browser.back(callback)
    assert str(landed) == f"{oauth.public_url}/login?error=oauth_unavailable"
    assert await reasons(db) == ["oauth_unavailable"]


async def test_one_callback_sent_twice_at_once_signs_in_once(
    oauth: OAuthStack, browser: Browser, db: Any
) -> None:
    callback = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    landings = await asyncio.gather(browser.back(callback), browser.back(callback))
    assert sorted(str(landed) for landed in landings) == [
        f"{oauth.public_url}/",
        f"{oauth.public_url}/login?error=oauth_failed",
    ]
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 1


async def test_two_first_sign_ins_of_one_identity_at_once_make_one_account(
    oauth: OAuthStack, browser: Browser, attacker: Browser, db: Any
) -> None:
    first = await browser.consent(await browser.start("google"), GOOGLE_PERSON)
    second = await attacker.consent(await attacker.start("google"), GOOGLE_PERSON)
    landings = await asyncio.gather(browser.back(first), attacker.back(second))
    assert [str(landed) for landed in landings] == [f"{oauth.public_url}/"] * 2
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 1
    assert (await browser.me())[1]["id"] == (await attacker.me())[1]["id"]
