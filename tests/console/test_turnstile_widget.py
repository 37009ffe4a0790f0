"""Sign-up with Cloudflare Turnstile on: the page shows the widget (and only then
lets Cloudflare's script and frame in), and the widget's answer reaches
siteverify (a double speaking its documented format) through the API."""

from __future__ import annotations

import aiohttp

from services.auth.turnstile import TurnstileSettings
from services.console.security import CSP
from services.mockturnstile.app import PATH, SEEN
from services.mockturnstile.app import create_app as create_siteverify
from services.mockturnstile.siteverify import DUMMY_TOKEN, PASSES
from tests.accounts import PASSWORD
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack, browser_session, start_console_stack

SITE_KEY = "1x00000000000000000000AA"


async def test_the_sign_up_page_shows_the_widget_and_passes_its_answer(
    stack: Stack, aiohttp_server: AiohttpServer
) -> None:
    siteverify = await aiohttp_server(create_siteverify())
    console = await start_console_stack(
        stack,
        aiohttp_server,
        turnstile=TurnstileSettings(
            secret_key=PASSES,
            site_key=SITE_KEY,
            verify_url=str(siteverify.make_url(PATH)),
            hostnames=frozenset({"example.com"}),  # the host the double says it was solved on
            timeout_seconds=2,
        ),
    )
    async with browser_session(console) as browser:
        async with browser.get("/signup") as response:
            page = await response.text()
            policy = response.headers["Content-Security-Policy"]
        assert f'class="cf-turnstile" data-sitekey="{SITE_KEY}"' in page
        assert '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"' in page
        assert "script-src 'self' https://challenges.cloudflare.com;" in policy
        assert "frame-src https://challenges.cloudflare.com;" in policy
        async with browser.get("/login") as response:  # other pages keep the strict policy
            assert response.headers["Content-Security-Policy"] == CSP

        form = {"email": "tess@example.com", "username": "tess", "password": PASSWORD}
        async with browser.post("/signup", data=form, allow_redirects=False) as response:
            assert response.status == 422  # no widget answer: the API names the field
            assert "cf-turnstile" in await response.text()  # the widget again, to solve
        solved = {**form, "cf-turnstile-response": DUMMY_TOKEN}
        async with browser.post("/signup", data=solved, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
            assert response.headers["Location"] == "/signup/check-mail"
    (seen,) = siteverify.app[SEEN]
    assert seen["response"] == DUMMY_TOKEN


async def test_without_turnstile_the_page_has_no_widget(console_stack: ConsoleStack) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{console_stack.url}/signup") as response:
            assert "cf-turnstile" not in await response.text()
            assert response.headers["Content-Security-Policy"] == CSP
