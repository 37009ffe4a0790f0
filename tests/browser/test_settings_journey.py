"""The settings pages in a real browser, from a fresh account: the profile in
another language and time zone (signed-in pages follow the account's language,
and the footer's choice goes back to the account), a wrong then a right
password change, an email change confirmed from the mailed link, and the
sessions page ending another browser's session.
"""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser import people, settings_steps
from tests.browser.conftest import Shoot
from tests.console.conftest import ConsoleStack

NEW_PASSWORD = "another long passphrase 7"


async def test_a_person_looks_after_their_account_in_settings(
    page: Page, console_stack: ConsoleStack, shoot: Shoot, chromium: Browser
) -> None:
    await people.sign_up(page, username="ada", email="ada@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "ada@example.com")
    )
    await people.sign_in(page, "ada")
    await shoot(page, "overview")

    await settings_steps.open_settings(page)
    await settings_steps.save_profile(
        page, display_name="Ada Lovelace", language="简体中文", time_zone="Asia/Shanghai"
    )
    await expect(page.get_by_role("status")).to_have_text("个人资料已保存。")
    await expect(page.get_by_label("时区")).to_have_value("Asia/Shanghai")
    await shoot(page, "profile-saved-zh-CN")
    # The footer, read in Chinese: back to English, and the account keeps it.
    await settings_steps.choose_footer_language(page, "English", field="语言", apply="应用")
    await expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    await expect(page.get_by_label("Language of pages and mails")).to_have_value("en")
    await shoot(page, "profile-en")

    await settings_steps.open_settings_tab(page, "Security")
    await shoot(page, "security")
    await settings_steps.change_password(page, "not my password", NEW_PASSWORD)
    await expect(page.get_by_role("alert")).to_have_text("The current password is wrong.")
    await shoot(page, "password-refused")
    await settings_steps.change_password(page, people.PASSWORD, NEW_PASSWORD)
    await expect(page.get_by_role("status")).to_contain_text("Your password is changed.")
    await shoot(page, "password-changed")

    elsewhere = await chromium.new_context(base_url=console_stack.url)
    try:
        phone = await elsewhere.new_page()
        await people.sign_in(phone, "ada", NEW_PASSWORD)
        await settings_steps.open_settings_tab(page, "Sessions")
        await expect(page.get_by_role("listitem")).to_have_count(2)
        await shoot(page, "sessions-two")
        await settings_steps.sign_out_everywhere_else(page)
        await expect(page.get_by_role("listitem")).to_have_count(1)
        await shoot(page, "sessions-one")
        await people.open_overview(phone)
        await expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        await elsewhere.close()

    await settings_steps.open_settings_tab(page, "Security")
    await settings_steps.ask_to_change_email(page, "ada.l@example.com", NEW_PASSWORD)
    await shoot(page, "email-link-sent")
    link = await people._mailed_link(console_stack.sink, "ada.l@example.com", "/confirm-email")
    await page.goto(link)
    await shoot(page, "confirm-email")
    await settings_steps.confirm_new_email(page, link)
    await shoot(page, "email-changed")
    await page.get_by_role("link", name="Sign in").click()
    await shoot(page, "sign-in-again")
    await people.sign_in(page, "ada.l@example.com", NEW_PASSWORD)
    await expect(page.get_by_text("Signed in as ada")).to_be_visible()
