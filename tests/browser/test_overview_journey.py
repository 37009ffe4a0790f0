"""The overview journey in a real browser whose clock is in Shanghai: a
newcomer's overview is empty and says its days start at midnight in
Asia/Shanghai (the browser's zone, sent by timezone.js); after calls made with
a key through the OpenAI SDK, today's spend is what the ledger charged and the
charts' tables name the models used; the period is chosen by its links.
Shot with and without usage, light and dark, at both widths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser import overview_steps as overview
from tests.browser import people
from tests.browser.conftest import STEP_TIMEOUT_MS, WIDE, Shoot
from tests.console.conftest import ConsoleStack
from tests.console.model_catalog import serve_mock_models
from tests.relay import credit

ZONE = "Asia/Shanghai"


@pytest.fixture
async def context(chromium: Browser, console_stack: ConsoleStack) -> AsyncIterator[BrowserContext]:
    """The browser of a person in Shanghai (the usual fixture's, in another zone)."""
    context = await chromium.new_context(
        base_url=console_stack.url, viewport=WIDE, locale="en-US", timezone_id=ZONE
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        yield context
    finally:
        await context.close()


async def _shoot_light_and_dark(page: Page, shoot: Shoot, name: str) -> None:
    await shoot(page, name)
    await page.emulate_media(color_scheme="dark")
    await shoot(page, f"{name}-dark")
    await page.emulate_media(color_scheme="light")


async def test_a_newcomer_sees_todays_spend_and_the_models_they_used(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await serve_mock_models(console_stack)
    await people.sign_up(page, username="linus", email="linus@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "linus@example.com")
    )
    await people.sign_in(page, "linus")
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    assert cookies.get("tz") == ZONE
    await expect(page.get_by_text(f"Days start at midnight in {ZONE}.")).to_be_visible()
    await expect(page.get_by_text("No usage in the last 7 days.")).to_be_visible()
    assert await overview.amount_of(page, "Spend today") == 0
    await _shoot_light_and_dark(page, shoot, "overview-empty")

    url = console_stack.url
    token = await overview.api_token(url, "linus")
    me = await overview.api_get(url, token, "/api/me")
    await credit(console_stack.stack, me["id"], Decimal(5))
    secret = await overview.create_key_by_api(url, token, "script")
    await overview.ask_models(url, secret, ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"])
    charged = await overview.charges_in_ledger(url, token, 3)
    assert charged > 0

    await people.open_overview(page)
    assert await overview.amount_of(page, "Spend today") == charged
    assert await overview.amount_of(page, "Spend this month") == charged
    assert await overview.amount_of(page, "Available") == Decimal(5) - charged
    spend = overview.chart_table(page, "Spend per day and model (USD)")
    await expect(spend.get_by_role("columnheader", name="gpt-4o-mini")).to_have_count(1)
    await expect(spend.get_by_role("columnheader", name="gpt-4o", exact=True)).to_have_count(1)
    assert await spend.get_by_role("row").count() == 2  # the header and today
    tokens = overview.chart_table(page, "Tokens per day and model")
    await expect(tokens.get_by_role("columnheader", name="gpt-4o-mini")).to_have_count(1)
    await expect(page.get_by_role("img", name="Spend per day and model")).to_be_visible()
    await _shoot_light_and_dark(page, shoot, "overview-with-usage")

    await overview.choose_period(page, "30 days")
    await expect(spend.get_by_role("columnheader", name="gpt-4o-mini")).to_have_count(1)
    await _shoot_light_and_dark(page, shoot, "overview-30-days")
