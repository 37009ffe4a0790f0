"""The two-factor step and the password reset, through the console's pages."""

from __future__ import annotations

import re

import aiohttp

from tests.accounts import PASSWORD, sign_up
from tests.auth.account_mail import open_mail
from tests.console.conftest import ConsoleStack
from tests.two_factor import turn_on


async def test_the_second_step_of_a_sign_in_with_two_factor(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    two_factor = await turn_on(console_stack.stack.gateway)
    username = two_factor.account.username
    login = {"login": username, "password": PASSWORD}
    async with browser.post("/login", data=login, allow_redirects=False) as response:
        assert response.status == 200
        assert "Set-Cookie" not in response.headers  # no session before the second factor
        page = await response.text()
    found = re.search(r'name="mfa_token" value="([^"]+)"', page)
    assert found is not None and 'action="/login/mfa"' in page
    token = found.group(1)

    wrong = {"mfa_token": token, "code": "000000" if two_factor.code(0) != "000000" else "111111"}
    async with browser.post("/login/mfa", data=wrong, allow_redirects=False) as response:
        assert response.status in (400, 401, 403), await response.text()
        assert "Set-Cookie" not in response.headers
        assert f'value="{token}"' in await response.text()  # the form again, to retry

    right = {"mfa_token": token, "code": two_factor.code(0)}
    async with browser.post("/login/mfa", data=right, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert "tg_session=" in response.headers["Set-Cookie"]
    async with browser.get("/") as response:
        assert f"Signed in as {username}" in await response.text()
    # The token was spent: a replay signs no one in.
    async with browser.post("/login/mfa", data=right, allow_redirects=False) as response:
        assert response.status != 303


async def test_forgot_and_reset_the_password(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await sign_up(console_stack.stack.gateway)
    async with browser.post("/forgot-password", data={"email": account.email}) as response:
        assert response.status == 200
        assert "If an account has this address" in await response.text()
    async with browser.post("/forgot-password", data={"email": "nobody@example.com"}) as response:
        assert response.status == 200  # the same page whatever the address
        assert "If an account has this address" in await response.text()

    mail = await open_mail(console_stack.sink, account.email, "Reset your Tollgate password")
    found = re.search(
        re.escape(console_stack.url) + r"/reset-password\?token=([A-Za-z0-9_-]+)", mail["text"]
    )
    assert found is not None
    token = found.group(1)
    async with browser.get(f"/reset-password?token={token}") as response:
        assert f'name="token" value="{token}"' in await response.text()
    weak = {"token": token, "password": "short"}
    async with browser.post("/reset-password", data=weak, allow_redirects=False) as response:
        assert response.status == 422
        assert f'name="token" value="{token}"' in await response.text()  # not spent
    new_password = "a brand new console password"
    chosen = {"token": token, "password": new_password}
    async with browser.post("/reset-password", data=chosen, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/login?reset=1"
    async with browser.get("/login?reset=1") as response:
        assert "Your new password is set." in await response.text()
    async with browser.post("/reset-password", data=chosen, allow_redirects=False) as response:
        assert response.status == 400  # used once

    old = {"login": account.username, "password": PASSWORD}
    async with browser.post("/login", data=old, allow_redirects=False) as response:
        assert response.status == 401
    new = {"login": account.username, "password": new_password}
    async with browser.post("/login", data=new, allow_redirects=False) as response:
        assert response.status == 303


async def test_the_mailed_sign_in_link_page(browser: aiohttp.ClientSession) -> None:
    async with browser.get("/sign-in-link?token=abc") as response:
        page = await response.text()
    assert 'action="/sign-in-link"' in page and 'name="token" value="abc"' in page
    async with browser.post("/sign-in-link", data={"token": "abc"}, allow_redirects=False) as r:
        assert r.status == 400
        assert "Set-Cookie" not in r.headers
