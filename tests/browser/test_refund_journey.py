"""An admin refunds part of an order (issue 18, point 9): a person tops up
10 USD through the mock provider's hosted checkout and spends a little; an
admin finds the order on /admin/orders (filtered to paid ones), refunds 4 USD
of it with a reason, confirming on the page that asks first; the person then
sees on the billing page the balance down by 4 and the refund in the ledger,
their order partly refunded, and its receipt listing the refund. The ledger
is sound afterwards."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from playwright.async_api import Page, expect

from services.billing import ledger
from services.billing.reconcile import check_ledger
from shared.settings import Common
from tests.accounts import sign_up
from tests.browser import people, redemption_steps, refund_steps, topup_steps
from tests.browser.conftest import Shoot
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack
from tests.console.payments_stack import (
    PaymentsConsoleStack,
    balance_of,
    start_payments_console_stack,
)


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer
) -> PaymentsConsoleStack:
    return await start_payments_console_stack(stack, common, aiohttp_server)


@pytest.fixture
def console_stack(paying: PaymentsConsoleStack) -> ConsoleStack:
    """The browser opens the console of the stack with top-ups on."""
    return paying.console


async def _verified(paying: PaymentsConsoleStack, db: Any, *, admin: bool = False) -> str:
    account = await sign_up(paying.console.stack.gateway)
    await db.execute(
        "UPDATE auth.users SET email_verified_at = now(), role = $2 WHERE id = $1",
        uuid.UUID(account.id),
        "admin" if admin else "user",
    )
    return account.username


async def _spend(db: Any, username: str, amount: Decimal) -> str:
    """What the person's requests cost, posted as billing posts a charge's remainder."""
    user_id = await db.fetchval("SELECT id FROM auth.users WHERE username = $1", username)
    async with db.transaction():
        user = await ledger.user_account(db, user_id)
        revenue = await ledger.system_account(db, "revenue")
        await ledger.post(
            db, "adjustment", [(user, -amount), (revenue, amount)], reason="requests relayed"
        )
    return str(user_id)


async def test_an_admin_refunds_4_usd_and_the_person_sees_the_reversal_and_the_receipt(
    page: Page, paying: PaymentsConsoleStack, shoot: Shoot, db: Any
) -> None:
    person = await _verified(paying, db)
    admin = await _verified(paying, db, admin=True)

    # The person tops up 10 USD with Stripe and spends 1.50 of it.
    await people.sign_in(page, person)
    await people.open_billing(page)
    await topup_steps.open_top_up(page)
    await topup_steps.choose_amount(page, "10.00 USD")
    await topup_steps.choose_provider(page, "Stripe")
    await topup_steps.continue_to_payment(page)
    await topup_steps.pay_at_checkout(page)
    await topup_steps.wait_until_paid(page)
    user_id = await _spend(db, person, Decimal("1.50"))
    assert await balance_of(db, user_id) == Decimal("8.50")
    await people.sign_out(page)

    # An admin refunds 4.00 USD of that order.
    await people.sign_in(page, admin)
    await shoot(page, "admin-overview")
    await refund_steps.open_orders_admin(page)
    await shoot(page, "admin-orders")
    await refund_steps.show_only(page, "Paid")
    rows = refund_steps.order_rows(page)
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(
        re.compile(r"Paid\s+10\.00 USD\s+[0-9a-f]{8}\s+10\.00 USD\s+Stripe\s+[0-9]+\s+cs_")
    )
    await refund_steps.open_order(rows.first)
    await expect(page.get_by_label("Amount to refund (USD)")).to_have_value("10.00")
    await shoot(page, "admin-order")
    await refund_steps.refund(page, "4.00", "Charged twice for one month, asked by mail")
    await expect(page.get_by_text("This cannot be undone.")).to_be_visible()
    await shoot(page, "admin-refund-confirm")
    assert await balance_of(db, user_id) == Decimal("8.50")  # asking first refunds nothing
    await refund_steps.confirm_refund(page, "4.00")
    await expect(page.get_by_text("Partly refunded")).to_be_visible()
    changes = page.get_by_role("region", name="Credit taken back or given back, oldest first")
    await expect(changes.locator("tbody tr")).to_have_count(1)
    await expect(changes.locator("tbody tr")).to_contain_text(re.compile(r"Refund\s+−4\.00 USD"))
    await expect(page.get_by_label("Amount to refund (USD)")).to_have_value("6.00")
    await shoot(page, "admin-order-refunded")
    await page.emulate_media(color_scheme="dark")
    await shoot(page, "admin-order-refunded-dark")
    await page.emulate_media(color_scheme="light")
    await refund_steps.open_orders_admin(page)
    await refund_steps.show_only(page, "Partly refunded")
    await expect(refund_steps.order_rows(page)).to_have_count(1)
    await shoot(page, "admin-orders-partly-refunded")
    await people.sign_out(page)
    await shoot(page, "signed-out")

    # The person sees the reversal and the receipt updated.
    await people.sign_in(page, person)
    await people.open_billing(page)
    assert await redemption_steps.balance_shown(page) == "4.50 USD"
    ledger_table = page.get_by_role("region", name="Ledger table")
    await expect(ledger_table.get_by_role("cell", name="Refund", exact=True)).to_have_count(1)
    await shoot(page, "billing-after-refund")
    await topup_steps.open_orders(page)
    await expect(page.get_by_role("region", name="Orders table")).to_contain_text("Partly refunded")
    await shoot(page, "orders-after-refund")
    await refund_steps.open_receipt(page)
    await expect(page.get_by_role("heading", name="Later changes")).to_be_visible()
    await expect(page.get_by_text("Refunded so far: 4.00 USD")).to_be_visible()
    await expect(page.get_by_role("row", name=re.compile(r"Refund\s+-4\.00 USD"))).to_be_visible()
    await shoot(page, "receipt-after-refund")
    assert await balance_of(db, user_id) == Decimal("4.50")
    assert await check_ledger(db) == []
