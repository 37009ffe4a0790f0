"""Signing in with Google in a real browser, through the mock OpenID provider
(services/mockoidc, the double `tollgate dev` runs): a person new to Tollgate
presses "Sign in with Google", says who they are at the provider, lands on the
overview with a new account, finds their name in the profile and this browser
in the sessions, and signs out.
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.async_api import Page, expect

from services.mockoidc import settings as mock_settings
from services.mockoidc.app import create_app as create_mockoidc
from tests.auth.oauth_stack import providers_for
from tests.browser import people, settings_steps
from tests.browser.conftest import Shoot
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack, start_console_stack


@pytest.fixture
async def console_stack(stack: Stack, aiohttp_server: AiohttpServer) -> ConsoleStack:
    """The console stack, its auth signing in with the mock provider's Google
    issuer as an operator would configure the real one."""
    mock = await aiohttp_server(create_mockoidc(mock_settings.Settings()))
    mock_url = str(mock.make_url("")).rstrip("/")
    return await start_console_stack(stack, aiohttp_server, oauth_providers=providers_for(mock_url))


async def test_a_newcomer_signs_in_with_google(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await page.goto("/login")
    await shoot(page, "sign-in-with-providers")
    await settings_steps.press_sign_in_with(page, "Google")
    await shoot(page, "mock-google")
    subject = str(secrets.randbelow(10**20))
    await settings_steps.tell_the_mock_provider(
        page, subject=subject, email="hedy@example.com", name="Hedy Lamarr"
    )
    await expect(page).to_have_url(console_stack.url + "/")
    await expect(page.get_by_text(re.compile(r"^Signed in as \S+"))).to_be_visible()
    await shoot(page, "overview-after-google")

    await settings_steps.open_settings(page)
    await expect(page.get_by_label("Display name")).to_have_value("Hedy Lamarr")
    await shoot(page, "profile-from-google")
    await settings_steps.open_settings_tab(page, "Sessions")
    await expect(page.get_by_text("This browser")).to_be_visible()
    await shoot(page, "sessions")

    await people.sign_out(page)
    await expect(page.get_by_role("link", name="Sign in with Google")).to_be_visible()
