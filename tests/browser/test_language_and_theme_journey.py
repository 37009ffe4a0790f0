"""A person switches the console to Chinese and sees the overview and the keys
page in Chinese; switches to the dark theme and finds it kept after a reload."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser import people
from tests.browser.conftest import Shoot
from tests.browser.preference_steps import choose_theme, theme_shown
from tests.console.conftest import ConsoleStack


async def test_chinese_pages_and_a_dark_theme_that_stays(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await people.sign_up(page, username="lihua", email="lihua@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "lihua@example.com")
    )
    await people.sign_in(page, "lihua")
    await shoot(page, "overview-english")

    await people.choose_language(page, "简体中文")
    await expect(page.get_by_role("heading", name="概览")).to_be_visible()
    await expect(page.get_by_text("余额", exact=True).first).to_be_visible()
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await shoot(page, "overview-chinese")

    await page.get_by_role("navigation").get_by_role("link", name="密钥").click()
    await expect(page.get_by_role("heading", name="API 密钥")).to_be_visible()
    await shoot(page, "keys-chinese")

    await choose_theme(page, "深色", field="主题", apply="应用")
    assert await theme_shown(page) == "dark"
    await page.reload()
    assert await theme_shown(page) == "dark"
    await expect(page.get_by_role("heading", name="API 密钥")).to_be_visible()  # still Chinese
    await shoot(page, "keys-chinese-dark")
    await page.get_by_role("navigation").get_by_role("link", name="概览").click()
    assert await theme_shown(page) == "dark"
    await shoot(page, "overview-chinese-dark")
