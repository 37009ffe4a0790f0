"""Person-level steps about the footer's preferences (language and theme), in
whatever language the page is in: the labels are passed as the person reads them."""

from __future__ import annotations

import re

from playwright.async_api import Page


def _exact(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


async def choose_theme(
    page: Page, theme: str, *, field: str = "Theme", apply: str = "Apply"
) -> None:
    """Pick a theme in the footer (`theme` as the option reads) and apply it."""
    await page.get_by_label(_exact(field)).select_option(label=theme)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_exact(apply)).click()


async def theme_shown(page: Page) -> str:
    """The theme the page is drawn in (the class on <html>)."""
    classes = await page.locator("html").get_attribute("class") or ""
    found = re.search(r"theme-(\w+)", classes)
    return found.group(1) if found else ""
