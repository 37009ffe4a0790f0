"""Redemption codes in the console, one step per function: an operator creates
a batch and copies a code; a person redeems one on the billing page.

As in `people`: each step finds what it uses by role and accessible name or by
label, and waits for the page it leads to.
"""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.browser.people import _name


async def create_codes(page: Page, *, count: int, amount: str, note: str = "") -> None:
    """On the redemption codes page, fill in the batch form and send it; land on
    the page that shows the new codes once."""
    await page.get_by_label(_name("Number of codes")).fill(str(count))
    await page.get_by_label(_name("Amount of each code (USD)")).fill(amount)
    if note:
        await page.get_by_label(_name("Note")).fill(note)
    await page.get_by_role("button", name=_name("Create the codes")).click()
    await expect(
        page.get_by_role("heading", level=1, name=_name("New redemption codes"))
    ).to_be_visible()


async def copy_code(page: Page, number: int) -> str:
    """Press the copy button of the `number`th new code; what the clipboard then holds."""
    button = page.get_by_role("button", name=_name(f"Copy code {number}"))
    await button.click()
    await expect(page.get_by_role("button", name=_name(f"Copied code {number}"))).to_be_visible()
    text: str = await page.evaluate("navigator.clipboard.readText()")
    return text


async def redeem_code(
    page: Page,
    code: str,
    *,
    label: str = "Redemption code",
    button: str = "Redeem",
    heading: str = "Redeem a code",
) -> None:
    """In the "Redeem a code" form (on the billing page, or its own page), paste
    the code and press Redeem; land on the page that tells how it went. The
    names are the page's words, in the language it reads."""
    form = page.get_by_role("region", name=_name(heading))
    if not await form.count():
        form = page.get_by_role("main")
    await form.get_by_label(_name(label)).fill(code)
    async with page.expect_navigation():
        await form.get_by_role("button", name=_name(button)).click()
    await expect(page.get_by_role("heading", level=1, name=_name(heading))).to_be_visible()


def batch_row(page: Page, number: int = 1, *, name: str = "Batches, newest first") -> Locator:
    """The `number`th row of the batches table (newest first; `name` as the page reads it)."""
    batches = page.get_by_role("table", name=_name(name))
    return (
        batches.get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=re.compile(r"^#[0-9]+$")))
        .nth(number - 1)
    )


async def balance_shown(page: Page) -> str:
    """The balance the billing page shows, as written ("12.50 USD")."""
    figure = page.get_by_role("definition").first
    return re.sub(r"\s+", " ", (await figure.inner_text()).strip())
