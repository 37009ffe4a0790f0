"""Topping up in the console, one step per function: open the top-up page,
choose an amount and a provider, go to the provider's hosted checkout (the
mock payment provider here), pay or cancel there, and wait on the result page.

As in `people`: each step finds what it uses by role and accessible name or by
label, and waits for the page it leads to.
"""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.browser.people import _name

# The webhook may take a few polls (every 2 s) to show.
PAID_TIMEOUT_MS = 15_000


async def open_top_up(page: Page) -> None:
    """On the billing page (or the overview), follow "Top up"."""
    async with page.expect_navigation():
        await page.get_by_role("main").get_by_role("link", name=_name("Top up")).click()
    await expect(page.get_by_role("heading", level=1, name=_name("Top up"))).to_be_visible()


async def choose_amount(page: Page, amount: str) -> None:
    """Pick a preset amount, as written on its button ("10.00 USD")."""
    await page.get_by_role("group", name=_name("Amount")).get_by_label(_name(amount)).check()


async def choose_provider(page: Page, provider: str) -> None:
    await page.get_by_role("group", name=_name("Pay with")).get_by_label(_name(provider)).check()


async def continue_to_payment(page: Page, provider: str = "Stripe") -> None:
    """Press "Continue to payment"; land on the provider's hosted checkout."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Continue to payment")).click()
    await expect(
        page.get_by_role("heading", level=1, name=_name(f"{provider.lower()} test checkout"))
    ).to_be_visible()


async def pay_at_checkout(page: Page) -> None:
    """On the hosted checkout, press Pay; come back to the console's result page."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Pay")).click()
    await expect(page.get_by_role("heading", level=1, name=_name("Top-up"))).to_be_visible()


async def cancel_at_checkout(page: Page) -> None:
    """On the hosted checkout, press Cancel; come back to the console's result page."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Cancel")).click()
    await expect(page.get_by_role("heading", level=1, name=_name("Top-up"))).to_be_visible()


def top_up_status(page: Page) -> Locator:
    """What the result page says about the order (its live status line)."""
    return page.get_by_role("status")


async def wait_until_paid(page: Page) -> None:
    """Stay on the result page until it says the credit was added (it updates itself)."""
    await expect(top_up_status(page)).to_contain_text(
        re.compile(r"was added to your balance"), timeout=PAID_TIMEOUT_MS
    )


async def open_orders(page: Page) -> None:
    """From the top-up or billing page, follow "Your orders"."""
    async with page.expect_navigation():
        await page.get_by_role("main").get_by_role("link", name=_name("Your orders")).click()
    await expect(page.get_by_role("heading", level=1, name=_name("Your orders"))).to_be_visible()
