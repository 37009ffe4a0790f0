"""The operator's journey (issue 17, point 8): an admin adds a channel pointing
at the stack's mock provider, tests it, prices a model, aliases it, and sees a
user's call made with the OpenAI SDK under the alias routed through that
channel; then reads the system status and runs reconcile. A person who is not
an admin finds none of these pages."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import openai
from playwright.async_api import Page, expect

from tests.accounts import create_key, sign_up
from tests.browser import admin_steps, people, preference_steps
from tests.browser.conftest import Shoot
from tests.console.conftest import ConsoleStack
from tests.relay import credit

UPSTREAM_KEY = "sk-mock-upstream-" + "k" * 24


async def _admin(console_stack: ConsoleStack, db: Any) -> str:
    """An operator's account with the admin role (as `tollgate admin create-user --admin`
    leaves it); its username."""
    account = await sign_up(console_stack.stack.gateway)
    await db.execute("UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(account.id))
    return account.username


async def test_an_admin_adds_a_channel_prices_and_aliases_a_model_and_sees_it_used(
    page: Page, console_stack: ConsoleStack, shoot: Shoot, db: Any
) -> None:
    admin = await _admin(console_stack, db)
    await people.sign_in(page, admin)
    await shoot(page, "overview-as-admin")

    await admin_steps.open_admin_page(page, "Channels", "Channels")
    await shoot(page, "channels-empty")
    await admin_steps.start_adding_a_channel(page)
    await shoot(page, "add-a-channel")
    mock_url = str(console_stack.stack.mock.make_url("")).rstrip("/")
    await admin_steps.add_a_channel(
        page,
        name="mock-openai",
        base_url=mock_url,
        api_key=UPSTREAM_KEY,
        models=["gpt-4o-mini"],
        private=True,
    )
    result = await admin_steps.test_the_channel(page, "mock-openai")
    assert re.search(r"Test passed: status 200 in [0-9.]+ ms \(gpt-4o-mini\)", result), result
    await shoot(page, "channel-tested")
    assert UPSTREAM_KEY not in await page.content()

    await admin_steps.open_admin_page(page, "Prices", "Prices")
    await shoot(page, "prices-empty")
    await admin_steps.start_pricing_a_new_model(page)
    await shoot(page, "price-a-new-model")
    await admin_steps.price_a_model(
        page, "gpt-4o-mini", input="0.15", output="0.60", cache_read="0.075", cache_write="0.15"
    )
    await expect(page.get_by_role("status")).to_have_text(re.compile("The price version is added."))
    await shoot(page, "model-price")
    await admin_steps.open_admin_page(page, "Prices", "Prices")
    await expect(admin_steps.row_of(page, "gpt-4o-mini")).to_contain_text("0.60")
    await shoot(page, "prices")

    await admin_steps.open_admin_page(page, "Aliases", "Model aliases")
    await shoot(page, "aliases-empty")
    await admin_steps.alias_a_model(page, "house-chat", "gpt-4o-mini")
    await expect(admin_steps.row_of(page, "house-chat")).to_contain_text("gpt-4o-mini")
    await shoot(page, "aliases")

    # A user with a key and some credit calls the alias with the OpenAI SDK.
    user = await sign_up(console_stack.stack.gateway)
    key = await create_key(console_stack.stack.gateway, user)
    await credit(console_stack.stack, user.id, Decimal(5))
    client = openai.AsyncOpenAI(api_key=key["key"], base_url=console_stack.url + "/v1")
    async with client:
        answer = await client.chat.completions.create(
            model="house-chat", messages=[{"role": "user", "content": "Say hello"}]
        )
    assert answer.choices[0].message.content

    # The admin sees the call on the channel: one request, used just now, no error.
    await admin_steps.open_admin_page(page, "Channels", "Channels")
    row = admin_steps.row_of(page, "mock-openai")
    await expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    await expect(row.get_by_role("cell").nth(4)).to_have_text("1")  # requests
    await expect(row.get_by_role("cell").nth(5)).to_have_text("0")  # failures
    await shoot(page, "channels-after-a-call")
    assert UPSTREAM_KEY not in await page.content()

    await admin_steps.open_admin_page(page, "System status", "System status")
    services = page.get_by_role("region", name="Services")
    for service in ("gateway", "auth", "billing", "usage", "console"):
        await expect(admin_steps.row_of(services, service)).to_contain_text("Ready")
    await shoot(page, "system")
    await admin_steps.run_reconcile(page)
    await expect(page.get_by_text("Every invariant holds")).to_be_visible()
    await shoot(page, "system-reconciled")

    # The same pages in the dark theme, then in Simplified Chinese.
    await preference_steps.choose_theme(page, "Dark")
    await shoot(page, "system-dark")
    await admin_steps.open_admin_page(page, "Channels", "Channels")
    await shoot(page, "channels-dark")
    await admin_steps.open_admin_page(page, "Prices", "Prices")
    await shoot(page, "prices-dark")
    await people.choose_language(page, "简体中文")
    await expect(page.get_by_role("heading", name="价格", level=1)).to_be_visible()
    await shoot(page, "prices-zh-CN")
    await admin_steps.open_admin_page(page, "渠道", "渠道", nav="主导航")
    await expect(admin_steps.row_of(page, "mock-openai")).to_contain_text("已启用")
    await shoot(page, "channels-zh-CN")


async def test_a_person_who_is_not_an_admin_finds_no_admin_page(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    user = await sign_up(console_stack.stack.gateway)
    await people.sign_in(page, user.username)
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Channels")).to_have_count(0)
    await shoot(page, "overview-not-admin")
    await page.goto("/admin/channels")
    await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    await shoot(page, "admin-page-refused")
