"""What an operator does on the console's admin pages, one step per function.

As in `people`: each step finds what it uses by role and accessible name or by
label, and waits for the page it leads to.
"""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.browser.people import _name


async def open_admin_page(page: Page, link: str, heading: str, *, nav: str = "Main") -> None:
    """Follow a link of the main navigation (`nav`, as the page names it) to an admin page."""
    await (
        page.get_by_role("navigation", name=_name(nav))
        .get_by_role("link", name=_name(link))
        .click()
    )
    await expect(page.get_by_role("heading", name=_name(heading), level=1)).to_be_visible()


async def start_adding_a_channel(page: Page) -> None:
    """On the channels page, press "Add a channel"."""
    await page.get_by_role("link", name=_name("Add a channel")).click()
    await expect(page.get_by_role("heading", name=_name("Add a channel"))).to_be_visible()


async def add_a_channel(
    page: Page, *, name: str, base_url: str, api_key: str, models: list[str], private: bool
) -> None:
    """Fill in the new channel's form, send it, land on the channels page."""
    await page.get_by_label(_name("Name")).fill(name)
    await page.get_by_label(_name("Kind")).select_option("openai")
    await page.get_by_label(_name("Base URL")).fill(base_url)
    await page.get_by_label(_name("Upstream API key")).fill(api_key)
    await page.get_by_label(_name("Models")).fill("\n".join(models))
    if private:
        await page.get_by_label(_name("Allow a private network address")).check()
    await page.get_by_role("button", name=_name("Add the channel")).click()
    await expect(
        page.get_by_role("status").filter(has_text="The channel is added.")
    ).to_be_visible()


async def test_the_channel(page: Page, name: str) -> str:
    """Press the channel's Test button; the result appears beside it. Returns its words."""
    row = row_of(page, name)
    await row.get_by_role("button", name=_name(f"Test {name}")).click()
    result = row.get_by_role("status")
    await expect(result).to_contain_text(re.compile(r"Test (passed|failed)"))
    return await result.inner_text()


async def start_pricing_a_new_model(page: Page) -> None:
    await page.get_by_role("link", name=_name("Price a new model")).click()
    await expect(page.get_by_role("heading", name=_name("Price a new model"))).to_be_visible()


async def price_a_model(
    page: Page, model: str, *, input: str, output: str, cache_read: str, cache_write: str
) -> None:
    """Fill in the new model's price, send it, land on the model's price page."""
    await page.get_by_label(_name("Model")).fill(model)
    await page.get_by_label(_name("Input")).fill(input)
    await page.get_by_label(_name("Output")).fill(output)
    await page.get_by_label(_name("Cache read")).fill(cache_read)
    await page.get_by_label(_name("Cache write")).fill(cache_write)
    await page.get_by_role("button", name=_name("Add the price")).click()
    await expect(page.get_by_role("heading", name=_name(f"Prices of {model}"))).to_be_visible()


async def alias_a_model(page: Page, alias: str, model: str) -> None:
    """On the aliases page, name an alias for a model and save it."""
    await page.get_by_label(_name("Alias")).fill(alias)
    await page.get_by_label(_name("Model")).fill(model)
    await page.get_by_role("button", name=_name("Save the alias")).click()
    await expect(page.get_by_role("status").filter(has_text="The alias is added.")).to_be_visible()


def row_of(where: Page | Locator, name: str) -> Locator:
    """The table row whose header cell is `name` (a channel, a model, an alias, a
    service), on the page or in one of its regions."""
    page = where if isinstance(where, Page) else where.page
    return where.get_by_role("row").filter(has=page.get_by_role("rowheader", name=_name(name)))


async def run_reconcile(page: Page) -> None:
    """On the system page, press "Run reconcile" and wait for the result."""
    await page.get_by_role("button", name=_name("Run reconcile")).click()
    await expect(page.get_by_role("status").filter(has_text="Reconcile ran")).to_be_visible()
