"""What a person does in the console, one step per function.

A journey test reads as a list of these steps. Each step finds what it uses
as a screen reader would, by role and accessible name or by label, never by
CSS selector, and waits for the page the step leads to, so that the next step
starts from a settled page. Mail is read from the mail sink's JSON API, as a
person reads their inbox.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Locator, Page, expect

PASSWORD = "correct horse battery staple"


def _name(text: str) -> re.Pattern[str]:
    """An accessible name, whatever its case."""
    return re.compile(rf"^\s*{re.escape(text)}\s*$", re.IGNORECASE)


async def sign_up(page: Page, *, username: str, email: str, password: str = PASSWORD) -> None:
    """Open the sign-up page, fill it in and send it."""
    await page.goto("/signup")
    await page.get_by_label(_name("Username")).fill(username)
    await page.get_by_label(_name("Email")).fill(email)
    await page.get_by_label(_name("Password")).fill(password)
    await page.get_by_role("button", name=_name("Create account")).click()
    await expect(page.get_by_role("heading", name=_name("Check your mail"))).to_be_visible()


async def open_verification_mail(sink: TestServer, email: str) -> str:
    """The link in the newest verification mail to `email` (waits for it)."""
    return await _mailed_link(sink, email, "/verify-email")


async def open_reset_mail(sink: TestServer, email: str) -> str:
    """The link in the newest password reset mail to `email` (waits for it)."""
    return await _mailed_link(sink, email, "/reset-password")


async def _mailed_link(sink: TestServer, email: str, page: str) -> str:
    link = re.compile(rf"https?://\S+{re.escape(page)}\?token=[A-Za-z0-9_-]+")
    async with aiohttp.ClientSession() as session:
        for _ in range(500):
            async with session.get(sink.make_url("/api/messages")) as response:
                mails: list[dict[str, Any]] = (await response.json())["data"]
            for mail in mails:  # newest first
                if email in mail["to"] and (found := link.search(mail["text"])):
                    return found.group(0)
            await asyncio.sleep(0.02)
    raise AssertionError(f"no mail to {email} with a link to {page} arrived")


async def verify(page: Page, link: str) -> None:
    """Open the mailed link and confirm the address."""
    await page.goto(link)
    await page.get_by_role("button", name=_name("Verify my email address")).click()
    await expect(page.get_by_role("heading", name=_name("Email address verified"))).to_be_visible()


async def try_to_sign_in(page: Page, login: str, password: str) -> None:
    """Open the sign-in page, give the login and password, send them."""
    await page.goto("/login")
    await page.get_by_label(_name("Email or username")).fill(login)
    await page.get_by_label(_name("Password")).fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Sign in")).click()


async def sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    """Sign in and land on the overview."""
    await try_to_sign_in(page, login, password)
    await expect(page.get_by_role("heading", name=_name("Overview"))).to_be_visible()


async def sign_in_by_keyboard(page: Page, login: str, password: str = PASSWORD) -> None:
    """Sign in with the keyboard alone: Tab to the first field, type, Tab,
    type, Enter; land on the overview."""
    await page.goto("/login")
    await tab_to(page, page.get_by_label(_name("Email or username")))
    await page.keyboard.type(login)
    await page.keyboard.press("Tab")
    await expect(page.get_by_label(_name("Password"))).to_be_focused()
    await page.keyboard.type(password)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=_name("Overview"))).to_be_visible()


async def sign_out_by_keyboard(page: Page) -> None:
    """Tab to "Sign out", press Enter, land on the sign-in page."""
    await tab_to(page, page.get_by_role("button", name=_name("Sign out")))
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=_name("Sign in"))).to_be_visible()


async def tab_to(page: Page, target: Locator, *, presses: int = 20) -> None:
    """Press Tab until `target` has the focus (a keyboard user's way there)."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{presses} presses of Tab never reach {target}")


async def ask_for_a_reset(page: Page, email: str) -> None:
    """From the sign-in page, follow "Forgot your password?" and ask for a link."""
    await page.goto("/login")
    await page.get_by_role("link", name=_name("Forgot your password?")).click()
    await page.get_by_label(_name("Email")).fill(email)
    await page.get_by_role("button", name=_name("Send a reset link")).click()
    await expect(page.get_by_role("heading", name=_name("Check your mail"))).to_be_visible()


async def try_a_new_password(page: Page, link: str, password: str) -> None:
    """Open the mailed reset link, type a new password, send it."""
    await page.goto(link)
    await page.get_by_label(_name("New password")).fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Set the new password")).click()


async def choose_a_new_password(page: Page, link: str, password: str) -> None:
    """Set a new password with the mailed link and land on the sign-in page."""
    await try_a_new_password(page, link, password)
    await expect(page.get_by_role("heading", name=_name("Sign in"))).to_be_visible()


async def sign_out(page: Page) -> None:
    """Press "Sign out" and land on the sign-in page."""
    await page.get_by_role("button", name=_name("Sign out")).click()
    await expect(page.get_by_role("heading", name=_name("Sign in"))).to_be_visible()


async def open_overview(page: Page) -> None:
    await page.goto("/")
    await page.wait_for_load_state()


async def choose_language(page: Page, language: str) -> None:
    """On an English page, pick a language in the footer and apply it."""
    await page.get_by_label(_name("Language")).select_option(label=language)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Apply")).click()


# The keys page (/keys): create a key, copy a setup, revoke a key.


async def create_a_key(page: Page, name: str, *, models: tuple[str, ...] = ()) -> str:
    """From the keys page, open the form, name the key, tick `models` (none:
    every model), create it; land on the page that shows the secret once, and
    return the secret."""
    await page.goto("/keys")
    await page.get_by_role("link", name=_name("Create a key")).click()
    await expect(page.get_by_role("heading", name=_name("Create an API key"))).to_be_visible()
    await page.get_by_label(_name("Name")).fill(name)
    for model in models:
        await page.get_by_role("checkbox", name=_name(model)).check()
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Create the key")).click()
    await expect(page.get_by_role("heading", name=_name("Key created"))).to_be_visible()
    secret = page.get_by_role("region", name=re.compile(r"^Your key ")).locator("code")
    return (await secret.inner_text()).strip()


async def copy_setup(page: Page, title: str) -> str:
    """On the new key's page, open `title`'s setup, press its (first) copy
    button, and return what the clipboard then holds."""
    copy = page.get_by_role("button", name=re.compile(rf"^\s*Copy {re.escape(title)}:")).first
    if not await copy.is_visible():
        await page.get_by_text(title, exact=True).click()
    await copy.click()
    copied = page.get_by_role("button", name=re.compile(rf"^\s*Copied {re.escape(title)}:"))
    await expect(copied.first).to_be_visible()
    text: str = await page.evaluate("navigator.clipboard.readText()")
    return text


async def ask_to_revoke_key(page: Page, name: str) -> None:
    """On the keys page, press the key's "Revoke"; land on the page that asks first."""
    await page.goto("/keys")
    await page.get_by_role("link", name=_name(f"Revoke {name}")).click()
    await expect(
        page.get_by_role("heading", name=_name(f"Revoke the key “{name}”?"))
    ).to_be_visible()


async def confirm_revoking(page: Page) -> None:
    """Say yes on the page that asks; land on the keys page, which says it is done."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Revoke the key")).click()
    await expect(page.get_by_role("status")).to_contain_text("The key is revoked")


async def revoke_key(page: Page, name: str) -> None:
    """Revoke the key named `name` from the keys page, confirming when asked."""
    await ask_to_revoke_key(page, name)
    await confirm_revoking(page)


async def open_setup_by_keyboard(page: Page, title: str) -> None:
    """On the new key's page, Tab to `title`'s setup and open it with Enter;
    its copy button shows."""
    await tab_to(page, page.get_by_text(title, exact=True), presses=60)
    await page.keyboard.press("Enter")
    copy = page.get_by_role("button", name=re.compile(rf"^\s*Copy {re.escape(title)}:"))
    await expect(copy.first).to_be_visible()


# The usage log (/usage) and billing (/billing).


async def open_usage_log(page: Page) -> None:
    """Follow "Usage" in the header; land on the usage log."""
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name=_name("Main"))
            .get_by_role("link", name=_name("Usage"))
            .click()
        )
    await expect(page.get_by_role("heading", level=1, name=_name("Usage"))).to_be_visible()


async def filter_usage(
    page: Page,
    *,
    model: str | None = None,
    key: str | None = None,
    status: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> None:
    """On the usage log, choose filters (a model, a key's label, a status's label,
    start and end as `YYYY-MM-DDTHH:MM`), press "Show" and wait for the records
    (htmx swaps them in place and updates the address)."""
    if model is not None:
        await page.get_by_label(_name("Model")).select_option(label=model)
    if key is not None:
        await page.get_by_label(_name("Key")).select_option(label=key)
    if status is not None:
        await page.get_by_label(_name("Status")).select_option(label=status)
    if start is not None:
        await page.get_by_label(_name("From")).fill(start)
    if end is not None:
        await page.get_by_label(_name("To")).fill(end)
    async with page.expect_response(lambda answer: "/usage?" in answer.url):
        await page.get_by_role("button", name=_name("Show")).click()
    await page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


async def export_usage_csv(page: Page) -> str:
    """Press "Export CSV" on the usage log; the downloaded file's text."""
    async with page.expect_download() as started:
        await page.get_by_role("link", name=_name("Export CSV")).click()
    download = await started.value
    failure = await download.failure()
    assert failure is None, failure
    path = await download.path()
    return path.read_text(encoding="utf-8")


async def open_billing(page: Page) -> None:
    """Follow "Billing" in the header; land on the billing page."""
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name=_name("Main"))
            .get_by_role("link", name=_name("Billing"))
            .click()
        )
    await expect(page.get_by_role("heading", level=1, name=_name("Billing"))).to_be_visible()


async def choose_quick_range(page: Page, label: str) -> None:
    """On the usage log, follow a quick range ("Last 7 days"); the other filters stay."""
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name=_name("Quick ranges"))
            .get_by_role("link", name=_name(label))
            .click()
        )
    await expect(page.get_by_role("heading", level=1, name=_name("Usage"))).to_be_visible()
