"""What an operator does on the console's admin orders pages, and what the
person refunded then looks at, one step per function.

As in `people`: each step finds what it uses by role and accessible name or by
label, and waits for the page it leads to.
"""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.browser.people import _name


async def open_orders_admin(page: Page) -> None:
    """Follow "Orders" among the admin links of the header."""
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name=_name("Main"))
            .get_by_role("link", name=_name("Orders"))
            .click()
        )
    await expect(page.get_by_role("heading", level=1, name=_name("Orders"))).to_be_visible()


async def show_only(page: Page, status: str) -> None:
    """Choose a status in the filter and press Show."""
    await page.get_by_label(_name("Status")).select_option(label=status)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Show")).click()


def order_rows(page: Page) -> Locator:
    """The orders table's rows (without its head)."""
    return page.get_by_role("region", name=_name("Orders, newest first")).locator("tbody tr")


async def open_order(row: Locator) -> None:
    """Follow an order's time in its row to the order's page."""
    page = row.page
    async with page.expect_navigation():
        await row.get_by_role("link").first.click()
    await expect(
        page.get_by_role("heading", level=1, name=re.compile(r"^Order of [0-9.]+ [A-Z]{3}$"))
    ).to_be_visible()


async def refund(page: Page, amount: str, reason: str) -> None:
    """Fill in the refund form, review it, and confirm on the page that asks first."""
    await page.get_by_label(_name("Amount to refund (USD)")).fill(amount)
    await page.get_by_label(_name("Reason")).fill(reason)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Review the refund")).click()
    await expect(
        page.get_by_role("heading", level=1, name=_name(f"Refund {amount} USD"))
    ).to_be_visible()


async def confirm_refund(page: Page, amount: str) -> None:
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name(f"Refund {amount} USD")).click()
    await expect(page.get_by_role("status")).to_contain_text("Refunded.")


async def open_receipt(page: Page) -> None:
    """On "Your orders", follow the (first) order's receipt link."""
    orders = page.get_by_role("region", name=_name("Orders table"))
    async with page.expect_navigation():
        await orders.get_by_role("link", name=re.compile(r"^Receipt [0-9]+$")).first.click()
    await expect(
        page.get_by_role("heading", level=1, name=re.compile(r"^Receipt "))
    ).to_be_visible()
