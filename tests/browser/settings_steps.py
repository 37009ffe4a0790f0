"""Person-level steps on the settings pages and the sign-ins they lead to:
the theme, two-factor sign-in (the test plays the authenticator app: it reads
the key shown beside the QR code and computes codes with pyotp, as the app
does), signing in with a code or a recovery code, and Google's button.

Every step finds what it uses by role and accessible name or by label, and
waits for the page it leads to.
"""

from __future__ import annotations

import asyncio
import re
import time

import pyotp
from playwright.async_api import Page, expect

from tests.browser.people import PASSWORD, try_to_sign_in

STEP_SECONDS = 30
# A code is typed with this much of its 30 s step left at least (a person reads, types, sends).
MARGIN_SECONDS = 8


def _name(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}\s*$", re.IGNORECASE)


async def open_settings(page: Page) -> None:
    """Press "Settings" in the header; land on the profile page."""
    await (
        page.get_by_role("navigation", name=_name("Main"))
        .get_by_role("link", name=_name("Settings"))
        .click()
    )
    await expect(page.get_by_role("heading", name=_name("Settings"), level=1)).to_be_visible()


async def open_settings_tab(page: Page, tab: str) -> None:
    """On a settings page, press one of its tabs (Profile, Security, Sessions)."""
    tabs = page.get_by_role("navigation", name=_name("Settings"))
    await tabs.get_by_role("link", name=_name(tab)).click()
    await expect(tabs.get_by_role("link", name=_name(tab))).to_have_attribute(
        "aria-current", "page"
    )


async def save_theme(page: Page, theme: str) -> None:
    """On the profile page, pick a theme ("Like the system", "Light", "Dark") and save it."""
    await page.get_by_role("radio", name=_name(theme)).check()
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Save theme")).click()


async def start_two_factor(page: Page) -> str:
    """On the security page, press "Turn on two-factor sign-in"; see the QR code,
    and return the key shown beside it (what the app would read from the code)."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Turn on two-factor sign-in")).click()
    await expect(
        page.get_by_role("heading", name=_name("Turn on two-factor sign-in"))
    ).to_be_visible()
    qr = page.get_by_role("img", name=_name("QR code for your authenticator app"))
    await expect(qr).to_be_visible()
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    key = page.get_by_text(re.compile(r"^[A-Z2-7]{16,}$"))
    return (await key.inner_text()).strip()


async def steady_moment() -> None:
    """Wait, if need be, until the authenticator's code has MARGIN_SECONDS left."""
    left = STEP_SECONDS - time.time() % STEP_SECONDS
    if left < MARGIN_SECONDS:
        await asyncio.sleep(left + 0.2)


def code_now(secret: str) -> str:
    """The code the authenticator app shows now."""
    return pyotp.TOTP(secret).now()


def code_of_last_step(secret: str) -> str:
    """The code the app showed one step ago (still accepted, and not the one
    a sign-in right after will use: each step's code is accepted once)."""
    return pyotp.TOTP(secret).at(time.time() - STEP_SECONDS)


async def confirm_two_factor(page: Page, code: str) -> list[str]:
    """Type the app's code and press "Turn on"; land on the recovery codes and
    return them."""
    await page.get_by_label(_name("The six-digit code the app shows")).fill(code)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Turn on")).click()
    await expect(page.get_by_role("heading", name=_name("Recovery codes"))).to_be_visible()
    codes = page.get_by_role("list", name=_name("Recovery codes")).get_by_role("listitem")
    return [(await item.inner_text()).strip() for item in await codes.all()]


async def copy_recovery_codes(page: Page) -> str:
    """Press "Copy the codes" and return what the clipboard then holds."""
    await page.get_by_role("button", name=_name("Copy the codes")).click()
    await expect(page.get_by_role("button", name=_name("Copied"))).to_be_visible()
    text: str = await page.evaluate("navigator.clipboard.readText()")
    return text


async def done_with_recovery_codes(page: Page) -> None:
    """Press "I have saved them"; land on the security page."""
    await page.get_by_role("link", name=_name("I have saved them")).click()
    await expect(page.get_by_role("heading", name=_name("Security"), level=1)).to_be_visible()


async def sign_in_with_second_factor(
    page: Page, login: str, code: str, password: str = PASSWORD
) -> None:
    """Sign in with the password, answer the second step with `code` (from the
    app, or a recovery code) and land on the overview."""
    await reach_the_second_step(page, login, password)
    await answer_the_second_step(page, code)


async def reach_the_second_step(page: Page, login: str, password: str = PASSWORD) -> None:
    """Sign in with the password; land on the step that asks for a code."""
    await try_to_sign_in(page, login, password)
    await expect(page.get_by_role("heading", name=_name("Two-factor sign-in"))).to_be_visible()


async def answer_the_second_step(page: Page, code: str) -> None:
    """Type a code (from the app, or a recovery code), continue, land on the overview."""
    await page.get_by_label(_name("Code from your authenticator app, or a recovery code")).fill(
        code
    )
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Continue")).click()
    await expect(page.get_by_role("heading", name=_name("Overview"))).to_be_visible()


async def press_sign_in_with(page: Page, provider: str) -> None:
    """On the sign-in page, press "Sign in with <provider>"; land on the provider's page."""
    await page.goto("/login")
    async with page.expect_navigation():
        await page.get_by_role("link", name=_name(f"Sign in with {provider}")).click()
    await expect(page.get_by_role("button", name=_name("Sign in"))).to_be_visible()


async def tell_the_mock_provider(page: Page, *, subject: str, email: str, name: str) -> None:
    """At the mock provider's page, say who one is (the provider's id for the
    person, the email, the name) and press "Sign in"; land back on the console's
    overview."""
    await page.get_by_label(re.compile(r"^Subject \(sub\)")).fill(subject)
    await page.get_by_label(_name("Email")).fill(email)
    await page.get_by_label(_name("Name")).fill(name)
    async with page.expect_navigation(url=re.compile(r"/$")):
        await page.get_by_role("button", name=_name("Sign in")).click()
    await expect(page.get_by_role("heading", name=_name("Overview"))).to_be_visible()


async def save_profile(
    page: Page,
    *,
    display_name: str | None = None,
    language: str | None = None,
    time_zone: str | None = None,
) -> None:
    """On the profile page (in English), change what is given and press "Save profile"."""
    if display_name is not None:
        await page.get_by_label(_name("Display name")).fill(display_name)
    if language is not None:
        await page.get_by_label(_name("Language of pages and mails")).select_option(label=language)
    if time_zone is not None:
        await page.get_by_label(_name("Time zone")).select_option(time_zone)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Save profile")).click()


async def ask_to_change_email(page: Page, new_email: str, password: str = PASSWORD) -> None:
    """On the security page, give the new address and the password, send them; the
    page says where the link went."""
    section = page.get_by_role("region", name=_name("Email address"))
    await section.get_by_label(_name("New email address")).fill(new_email)
    await section.get_by_label(_name("Current password")).fill(password)
    async with page.expect_navigation():
        await section.get_by_role("button", name=_name("Change email address")).click()
    await expect(page.get_by_role("status")).to_contain_text(f"We sent a link to {new_email}.")


async def confirm_new_email(page: Page, link: str) -> None:
    """Open the link mailed to the new address, press "Use the new address"."""
    await page.goto(link)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Use the new address")).click()
    await expect(page.get_by_role("heading", name=_name("Email address changed"))).to_be_visible()


async def change_password(page: Page, current: str, new: str) -> None:
    """On the security page, give the current and the new password, send them."""
    section = page.get_by_role("region", name=_name("Password"))
    await section.get_by_label(_name("Current password")).fill(current)
    await section.get_by_label(_name("New password")).fill(new)
    async with page.expect_navigation():
        await section.get_by_role("button", name=_name("Change password")).click()


async def sign_out_everywhere_else(page: Page) -> None:
    """On the sessions page, press "Sign out everywhere else"; the page says how many ended."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Sign out everywhere else")).click()
    await expect(page.get_by_role("status")).to_contain_text("Other sessions signed out")


async def choose_footer_language(
    page: Page, language: str, *, field: str = "Language", apply: str = "Apply"
) -> None:
    """Pick a language in the footer, its label and button as the page reads them."""
    await page.get_by_label(_name(field)).select_option(label=language)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name(apply)).click()


async def ask_for_new_recovery_codes(page: Page, code: str) -> list[str]:
    """On the security page, give a code (the app's, or a recovery code) and press
    "Show new recovery codes"; return the new codes shown."""
    section = page.get_by_role("form", name=_name("New recovery codes"))
    await section.get_by_label(_name("Code from your authenticator app, or a recovery code")).fill(
        code
    )
    async with page.expect_navigation():
        await section.get_by_role("button", name=_name("Show new recovery codes")).click()
    await expect(page.get_by_role("heading", name=_name("Recovery codes"))).to_be_visible()
    codes = page.get_by_role("list", name=_name("Recovery codes")).get_by_role("listitem")
    return [(await item.inner_text()).strip() for item in await codes.all()]


async def turn_off_two_factor(page: Page, code: str, password: str = PASSWORD) -> None:
    """On the security page, give the password and a code, turn two-factor off."""
    section = page.get_by_role("form", name=_name("Turn off two-factor sign-in"))
    await section.get_by_label(_name("Current password")).fill(password)
    await section.get_by_label(_name("Code from your authenticator app, or a recovery code")).fill(
        code
    )
    async with page.expect_navigation():
        await section.get_by_role("button", name=_name("Turn off two-factor sign-in")).click()
    await expect(page.get_by_role("status")).to_have_text("Two-factor sign-in is off.")
