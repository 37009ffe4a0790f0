"""Admission control in a real browser (issue 19, point 7).

A person sets a key's limits, budget and IP allowlist on its settings page and
finds them on the key's card and in the form after a reload; a network that
is not one is named next to the allowlist. An operator adds a group with a
price multiplier of 1.5, finds a person by email, moves them into it,
suspends them (asked first, with a reason: their key is refused) and lifts
the suspension (their key works again). The person's page shows their balance
and their latest call.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from services.usage.recording import record_batch
from shared.service import DB
from shared.usage_event import read
from tests.accounts import create_key, sign_up
from tests.browser import admin_steps, admission_steps, people
from tests.browser.conftest import Shoot
from tests.console.conftest import ConsoleStack
from tests.console.model_catalog import serve_mock_models
from tests.relay import credit
from tests.usage.factory import usage_event


async def test_a_person_sets_a_keys_limits_budget_and_allowlist(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await serve_mock_models(console_stack)
    person = await sign_up(console_stack.stack.gateway)
    await create_key(console_stack.stack.gateway, person, name="ci")
    await people.sign_in(page, person.username)

    await admission_steps.open_key_settings(page, "ci")
    await shoot(page, "key-settings")
    await admission_steps.fill_key_settings(
        page,
        rpm="60",
        tpm="20000",
        concurrency="4",
        budget="5.00",
        period="month",
        allowlist=["203.0.113.0/24", "2001:db8::/32"],
    )
    await admission_steps.save_key_settings(page)
    await expect(page.get_by_role("status")).to_contain_text("The key’s settings are saved.")
    await shoot(page, "keys-with-settings")

    await page.reload()
    card = admission_steps.key_card(page, "ci")
    for shown in (
        "60 requests a minute",
        "20000 tokens a minute",
        "4 requests at once",
        "5.00 USD a month",
        "0.00 USD spent, 5.00 USD left this period",
        "203.0.113.0/24",
        "2001:db8::/32",
    ):
        await expect(card).to_contain_text(shown)
    await admission_steps.open_key_settings(page, "ci")
    await expect(page.get_by_label("Requests a minute", exact=True)).to_have_value("60")
    await expect(page.get_by_label("Spend at most (USD)")).to_have_value("5.00")
    await expect(page.get_by_label("Per", exact=True)).to_have_value("month")
    await expect(page.get_by_label("IP allowlist")).to_have_value("203.0.113.0/24\n2001:db8::/32")

    # A network that is not one: named next to the allowlist, nothing saved.
    await admission_steps.fill_key_settings(page, allowlist=["203.0.113.0/24", "300.1.2.3/8"])
    await admission_steps.save_key_settings(page)
    allowlist = page.get_by_label("IP allowlist")
    await expect(allowlist).to_have_attribute("aria-invalid", "true")
    await expect(allowlist).to_have_accessible_description(
        re.compile(r"“300\.1\.2\.3/8” is not a CIDR network")
    )
    await shoot(page, "key-settings-bad-network")
    await page.goto("/keys")
    await expect(admission_steps.key_card(page, "ci")).not_to_contain_text("300.1.2.3")
    await shoot(page, "keys-unchanged")


async def _status_with(console_stack: ConsoleStack, secret: str) -> int:
    async with aiohttp.ClientSession() as client:
        async with client.get(
            f"{console_stack.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}
        ) as answer:
            return answer.status


async def _until(console_stack: ConsoleStack, secret: str, status: int) -> None:
    """The key answers `status` within a second (the change reaches every gateway by a notice)."""
    for _ in range(20):
        if await _status_with(console_stack, secret) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the key did not answer {status} within a second")


async def test_an_admin_adds_a_group_moves_a_person_into_it_suspends_and_lifts_them(
    page: Page, console_stack: ConsoleStack, shoot: Shoot, db: Any
) -> None:
    await serve_mock_models(console_stack)
    admin = await sign_up(console_stack.stack.gateway)
    await db.execute("UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(admin.id))
    person = await sign_up(console_stack.stack.gateway)
    key = await create_key(console_stack.stack.gateway, person)
    assert await _status_with(console_stack, key["key"]) == 200
    await credit(console_stack.stack, person.id, Decimal("4.50"))
    call = usage_event(
        person.id, at=datetime(2026, 3, 1, 12, tzinfo=UTC), key_id=key["id"], cost="0.0125"
    )
    await record_batch(console_stack.stack.usage.app[DB], [read(call)])
    await people.sign_in(page, admin.username)

    await admin_steps.open_admin_page(page, "Groups", "Groups")
    await shoot(page, "groups")
    await admission_steps.add_a_group(page, "pro", multiplier="1.5", note="sold as Pro")
    await expect(admin_steps.row_of(page, "pro")).to_contain_text("× 1.5")
    await shoot(page, "groups-with-pro")

    await admin_steps.open_admin_page(page, "Users", "Users")
    await shoot(page, "users")
    await admission_steps.find_user(page, person.email)
    await shoot(page, "users-found")
    await admission_steps.open_user(page, person.email, person.username)
    await expect(page.locator("#user-credit ~ dl.figures")).to_contain_text("4.50 USD")
    latest = page.get_by_role("region", name="Latest calls").get_by_role("row").nth(1)
    await expect(latest).to_contain_text("gpt-4o-mini")
    await expect(latest).to_contain_text(key["id"][:8])
    await expect(latest).to_contain_text("0.0125")
    await shoot(page, "user")
    await admission_steps.move_to_group(page, "pro")
    await shoot(page, "user-moved")

    await admission_steps.ask_to_suspend(page, person.username, "card fraud")
    await shoot(page, "suspend-asks-first")
    await admission_steps.confirm_suspending(page)
    await expect(page.get_by_text("card fraud")).to_be_visible()
    await shoot(page, "user-suspended")
    await _until(console_stack, key["key"], 403)

    await admission_steps.lift_suspension(page)
    await shoot(page, "user-lifted")
    await _until(console_stack, key["key"], 200)

    await people.choose_language(page, "简体中文")
    await expect(
        page.get_by_role("heading", level=1, name=f"账户 {person.username}")
    ).to_be_visible()
    await shoot(page, "user-zh-CN")
