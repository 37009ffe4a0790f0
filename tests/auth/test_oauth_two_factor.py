"""A provider never stands in for the second factor: an account with TOTP on
is linked only with its password and a code, and a provider sign-in to it
goes to the console's second step (`/login?mfa_token=`), which
`POST /api/auth/login/mfa` finishes as after a password."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.accounts import PASSWORD
from tests.auth.oauth_stack import GOOGLE_PERSON, Browser, OAuthStack
from tests.conftest import Stack
from tests.two_factor import TwoFactor, turn_on


@pytest.fixture
async def browser(oauth: OAuthStack) -> AsyncIterator[Browser]:
    browser = Browser(oauth)
    yield browser
    await browser.close()


async def link(browser: Browser, token: str, **proof: str) -> tuple[int, Any]:
    async with browser.session.post(
        f"{browser.stack.public_url}/api/auth/oauth/link",
        json={"link_token": token, "password": PASSWORD, **proof},
    ) as response:
        return response.status, await response.json()


async def linked_with_two_factor(stack: Stack, browser: Browser) -> TwoFactor:
    two_factor = await turn_on(stack.gateway)
    person = {**GOOGLE_PERSON, "email": two_factor.account.email}
    offer = await browser.sign_in("google", person)
    token = offer.query["link_token"]
    status, body = await link(browser, token)
    assert (status, body["error"]["code"]) == (401, "mfa_required"), body
    status, _ = await link(browser, token, code="000000")
    assert status == 401
    status, body = await link(browser, token, code=two_factor.code(0))
    assert status == 200, body
    return two_factor


async def test_linking_needs_the_code_too(
    oauth: OAuthStack, stack: Stack, browser: Browser, db: Any
) -> None:
    two_factor = await linked_with_two_factor(stack, browser)
    status, me = await browser.me()
    assert status == 200 and me["id"] == two_factor.account.id
    assert await db.fetchval("SELECT count(*) FROM auth.identities") == 1


async def test_a_provider_sign_in_asks_for_the_second_step(
    oauth: OAuthStack, stack: Stack, browser: Browser
) -> None:
    two_factor = await linked_with_two_factor(stack, browser)
    other = Browser(oauth)
    try:
        person = {**GOOGLE_PERSON, "email": two_factor.account.email}
        landed = await other.sign_in("google", person)
        assert str(landed.with_query(None)) == f"{oauth.public_url}/login"
        mfa_token = landed.query["mfa_token"]
        assert (await other.me())[0] == 401
        async with other.session.post(
            f"{oauth.public_url}/api/auth/login/mfa",
            json={"mfa_token": mfa_token, "code": two_factor.code(1)},
            headers={"Origin": oauth.public_url},
        ) as response:
            assert response.status == 200, await response.text()
        status, me = await other.me()
        assert status == 200 and me["id"] == two_factor.account.id
    finally:
        await other.close()
