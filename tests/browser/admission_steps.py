"""What a person does with a key's settings, and what an operator does with
groups and accounts (issue 19), one step per function.

As in `people`: each step finds what it uses by role and accessible name or by
label, and waits for the page it leads to.
"""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect

from tests.browser.people import _name

# The key's settings page (/keys/{id}/edit).


async def open_key_settings(page: Page, name: str) -> None:
    """On the keys page, press the key's "Edit"; land on its settings."""
    await page.goto("/keys")
    async with page.expect_navigation():
        await page.get_by_role("link", name=_name(f"Edit {name}")).click()
    await expect(
        page.get_by_role("heading", level=1, name=_name(f"Settings of the key “{name}”"))
    ).to_be_visible()


async def fill_key_settings(
    page: Page,
    *,
    rpm: str | None = None,
    tpm: str | None = None,
    concurrency: str | None = None,
    budget: str | None = None,
    period: str | None = None,
    allowlist: list[str] | None = None,
) -> None:
    """Type the given settings into the key's form (None leaves a field as it is)."""
    for label, value in (
        ("Requests a minute", rpm),
        ("Tokens a minute", tpm),
        ("Requests at once", concurrency),
        ("Spend at most (USD)", budget),
    ):
        if value is not None:
            await page.get_by_label(_name(label)).fill(value)
    if period is not None:
        await page.get_by_label(_name("Per")).select_option(label=period)
    if allowlist is not None:
        await page.get_by_label(_name("IP allowlist")).fill("\n".join(allowlist))


async def save_key_settings(page: Page) -> None:
    """Press "Save the key's settings" and wait for the page it answers."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Save the key’s settings")).click()


def key_card(page: Page, name: str) -> Locator:
    """The key's card on the keys page (an article named by the key)."""
    return page.get_by_role("article", name=_name(name))


# Groups (/admin/groups).


async def add_a_group(page: Page, name: str, *, multiplier: str, note: str = "") -> None:
    """On the groups page, fill in the add form and send it; the page says it is added."""
    form = page.get_by_role("form", name=_name("Add a group"))
    await form.get_by_label(_name("Name")).fill(name)
    await form.get_by_label(_name("Price multiplier")).fill(multiplier)
    if note:
        await form.get_by_label(_name("Note (optional)")).fill(note)
    async with page.expect_navigation():
        await form.get_by_role("button", name=_name("Add the group")).click()
    await expect(page.get_by_role("status")).to_contain_text(f"The group {name} is added.")


# Users (/admin/users).


async def find_user(page: Page, query: str) -> None:
    """On the users page, search for `query`."""
    await page.get_by_role("searchbox", name=_name("Email, username or id")).fill(query)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Search")).click()


async def open_user(page: Page, email: str, username: str) -> None:
    """Follow the account's email in the results; land on its page."""
    async with page.expect_navigation():
        await page.get_by_role("link", name=_name(email)).click()
    await expect(
        page.get_by_role("heading", level=1, name=_name(f"Account {username}"))
    ).to_be_visible()


async def move_to_group(page: Page, group: str) -> None:
    """On the account's page, choose a group and press "Move to this group"."""
    await page.get_by_label(_name("Group")).select_option(group)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Move to this group")).click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"The account is now in the group {group}."
    )


async def ask_to_suspend(page: Page, username: str, reason: str) -> None:
    """On the account's page, write a reason and press "Suspend the account…";
    land on the page that asks first."""
    await page.get_by_label(_name("Reason for the suspension")).fill(reason)
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Suspend the account…")).click()
    await expect(
        page.get_by_role("heading", level=1, name=_name(f"Suspend {username}?"))
    ).to_be_visible()


async def confirm_suspending(page: Page) -> None:
    """Say yes on the page that asks; back on the account's page, which says so."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Suspend the account")).click()
    await expect(page.get_by_role("status")).to_contain_text("The account is suspended")


async def lift_suspension(page: Page) -> None:
    """On a suspended account's page, press "Lift the suspension"; the page says so."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=_name("Lift the suspension")).click()
    await expect(page.get_by_role("status")).to_contain_text("The suspension is lifted")
