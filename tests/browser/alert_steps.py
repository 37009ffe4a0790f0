"""Person-level steps for the low-balance alert on the billing page."""

from __future__ import annotations

from playwright.async_api import Page, expect


async def set_alert(page: Page, amount: str) -> None:
    """Type the amount under "Mail me when my balance falls below" and save."""
    await page.get_by_label("Mail me when my balance falls below").fill(amount)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save alert").click()


async def turn_alert_off(page: Page) -> None:
    async with page.expect_navigation():
        await page.get_by_role("button", name="Turn the alert off").click()


async def alert_says(page: Page, text: str) -> None:
    await expect(page.get_by_role("region", name="Low-balance alert")).to_contain_text(text)
