"""Redemption codes, whole (issue 18, point 9): an operator creates a batch on
the admin page and copies a code (shown once, with the warning); a fresh person
pastes it into the billing page's form and sees the balance rise once;
redeeming it again is refused in one sentence and the balance stays. The
ledger is sound afterwards."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import Page, expect

from services.billing.reconcile import check_ledger
from tests.accounts import sign_up
from tests.browser import admin_steps, people, redemption_steps
from tests.browser.conftest import Shoot
from tests.console.conftest import ConsoleStack

CODE = re.compile(r"^[0-9A-Z]{4}(?:-[0-9A-Z]{4}){6}$")


async def test_an_admin_hands_out_a_code_and_a_person_redeems_it_once(
    page: Page, console_stack: ConsoleStack, shoot: Shoot, db: Any
) -> None:
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=console_stack.url
    )
    admin = await sign_up(console_stack.stack.gateway)
    await db.execute("UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(admin.id))
    person = await sign_up(console_stack.stack.gateway)

    await people.sign_in(page, admin.username)
    await admin_steps.open_admin_page(page, "Redemption codes", "Redemption codes")
    await shoot(page, "redemption-codes-empty")
    await redemption_steps.create_codes(page, count=3, amount="12.50", note="Launch week")
    await expect(page.get_by_role("alert")).to_contain_text("they will not be shown again")
    await shoot(page, "new-codes")
    code = (await redemption_steps.copy_code(page, 1)).strip()
    assert CODE.fullmatch(code), code
    await page.emulate_media(color_scheme="dark")
    await shoot(page, "new-codes-dark")
    await page.emulate_media(color_scheme="light")
    await admin_steps.open_admin_page(page, "Redemption codes", "Redemption codes")
    await expect(redemption_steps.batch_row(page)).to_contain_text("0 of 3")
    assert code not in await page.content()
    await shoot(page, "redemption-codes-batch")
    await people.sign_out(page)
    await shoot(page, "signed-out")

    await people.sign_in(page, person.username)
    await shoot(page, "overview-as-person")
    await people.open_billing(page)
    assert await redemption_steps.balance_shown(page) == "0.00 USD"
    await shoot(page, "billing-before")
    await redemption_steps.redeem_code(page, code)
    done = page.get_by_role("status")
    await expect(done).to_contain_text("12.50 USD was added to your balance")
    await expect(done).to_contain_text("Your balance is now 12.50 USD.")
    await shoot(page, "redeemed")

    await people.open_billing(page)
    assert await redemption_steps.balance_shown(page) == "12.50 USD"
    await redemption_steps.redeem_code(page, code)
    await expect(page.get_by_role("alert")).to_have_text(
        "This code cannot be redeemed. It may be mistyped, already used, or expired."
    )
    await page.emulate_media(color_scheme="dark")
    await shoot(page, "redeemed-again-refused-dark")
    await page.emulate_media(color_scheme="light")
    await people.open_billing(page)
    assert await redemption_steps.balance_shown(page) == "12.50 USD"
    await expect(page.get_by_role("cell", name=re.compile(r"redemption code"))).to_have_count(1)
    await shoot(page, "billing-after")

    await people.sign_out(page)

    await people.sign_in(page, admin.username)
    await admin_steps.open_admin_page(page, "Redemption codes", "Redemption codes")
    await expect(redemption_steps.batch_row(page)).to_contain_text("1 of 3")
    await shoot(page, "redemption-codes-redeemed")
    await people.choose_language(page, "简体中文")
    await expect(page.get_by_role("heading", level=1, name="兑换码")).to_be_visible()
    await expect(redemption_steps.batch_row(page, name="批次（最新的在前）")).to_contain_text(
        "1 / 3"
    )
    await shoot(page, "redemption-codes-zh-CN")
    assert await check_ledger(db) == []
