"""Topping up, whole (issue 18, point 9): a fresh verified person opens Top up,
picks 10 USD with Stripe, pays on the mock provider's hosted checkout, comes
back to a result page that shows pending, then paid once the signed webhook
lands; the billing page's balance rose by exactly 10 and its ledger shows one
top-up. The same with the webhook sent three times still credits once. Cancel
on the checkout brings the person back to a page that says nothing was
charged. The ledger is sound afterwards."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from services.billing.reconcile import check_ledger
from shared.settings import Common
from tests.accounts import sign_up
from tests.browser import people, redemption_steps, topup_steps
from tests.browser.conftest import Shoot
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack
from tests.console.payments_stack import (
    PaymentsConsoleStack,
    balance_of,
    start_payments_console_stack,
    top_ups_of,
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


async def _verified_person(paying: PaymentsConsoleStack, db: Any) -> tuple[str, str]:
    account = await sign_up(paying.console.stack.gateway)
    await db.execute(
        "UPDATE auth.users SET email_verified_at = now() WHERE id = $1", uuid.UUID(account.id)
    )
    return account.id, account.username


async def _user_id(db: Any, username: str) -> str:
    found = await db.fetchval("SELECT id FROM auth.users WHERE username = $1", username)
    return str(found)


async def test_a_newcomer_tops_up_10_usd_with_stripe_and_the_balance_rises_once(
    page: Page, paying: PaymentsConsoleStack, shoot: Shoot, db: Any
) -> None:
    await people.sign_up(page, username="grace", email="grace@example.com")
    link = await people.open_verification_mail(paying.console.sink, "grace@example.com")
    await people.verify(page, link)
    await people.sign_in(page, "grace")
    user_id = await _user_id(db, "grace")

    await shoot(page, "overview")
    await people.open_billing(page)
    assert await redemption_steps.balance_shown(page) == "0.00 USD"
    await shoot(page, "billing-before")
    await topup_steps.open_top_up(page)
    await shoot(page, "top-up")
    await topup_steps.choose_amount(page, "10.00 USD")
    await topup_steps.choose_provider(page, "Stripe")
    # The webhook waits 3 s after Pay, so the result page is seen pending first.
    await paying.control("/_mock/stripe/webhooks/faults", {"delay": 3})
    await topup_steps.continue_to_payment(page)
    await expect(page.get_by_text("Tollgate credit (10.00 USD)")).to_be_visible()
    await shoot(page, "stripe-checkout")
    await topup_steps.pay_at_checkout(page)
    await expect(topup_steps.top_up_status(page)).to_contain_text(
        "Waiting for the payment provider to confirm the payment."
    )
    await expect(page.get_by_role("link", name="Reload this page")).to_be_visible()
    await shoot(page, "result-pending")
    await topup_steps.wait_until_paid(page)
    await expect(topup_steps.top_up_status(page)).to_contain_text(
        "Paid. 10.00 USD was added to your balance."
    )
    await expect(topup_steps.top_up_status(page)).to_contain_text("Your balance is now 10.00 USD.")
    await shoot(page, "result-paid")
    await page.emulate_media(color_scheme="dark")
    await shoot(page, "result-paid-dark")
    await page.emulate_media(color_scheme="light")

    await people.open_billing(page)
    assert await redemption_steps.balance_shown(page) == "10.00 USD"
    ledger = page.get_by_role("region", name="Ledger table")
    await expect(ledger.get_by_role("cell", name="Top-up", exact=True)).to_have_count(1)
    await shoot(page, "billing-after")
    await topup_steps.open_orders(page)
    orders = page.get_by_role("region", name="Orders table")
    await expect(orders.get_by_role("row")).to_have_count(2)  # the head and one order
    await expect(orders.get_by_role("row").nth(1)).to_contain_text(
        re.compile(r"10\.00 USD\s+Paid\s+Stripe\s+Receipt [0-9]+")
    )
    await shoot(page, "orders")
    assert await balance_of(db, user_id) == 10
    assert await top_ups_of(db, user_id) == 1
    assert await check_ledger(db) == []


async def test_the_webhook_sent_three_times_credits_once(
    page: Page, paying: PaymentsConsoleStack, shoot: Shoot, db: Any
) -> None:
    user_id, username = await _verified_person(paying, db)
    await people.sign_in(page, username)
    await people.open_billing(page)
    await topup_steps.open_top_up(page)
    await topup_steps.choose_amount(page, "10.00 USD")
    await topup_steps.choose_provider(page, "Stripe")
    await paying.control("/_mock/stripe/webhooks/faults", {"copies": 3, "delay": 1})
    await topup_steps.continue_to_payment(page)
    await topup_steps.pay_at_checkout(page)
    await topup_steps.wait_until_paid(page)
    await shoot(page, "result-paid")
    deliveries = await paying.settled(1)
    completed = [d for d in deliveries if d.get("type") == "checkout.session.completed"]
    assert completed, deliveries
    await people.open_billing(page)
    assert await redemption_steps.balance_shown(page) == "10.00 USD"
    ledger = page.get_by_role("region", name="Ledger table")
    await expect(ledger.get_by_role("cell", name="Top-up", exact=True)).to_have_count(1)
    await shoot(page, "billing-after")
    assert await balance_of(db, user_id) == 10
    assert await top_ups_of(db, user_id) == 1
    assert await check_ledger(db) == []


async def test_cancel_on_the_checkout_charges_nothing(
    page: Page, paying: PaymentsConsoleStack, shoot: Shoot, db: Any
) -> None:
    user_id, username = await _verified_person(paying, db)
    await people.sign_in(page, username)
    await topup_steps.open_top_up(page)  # from the overview
    await shoot(page, "top-up")
    await page.get_by_label("Another amount (USD)").fill("12.34")
    await topup_steps.choose_provider(page, "Stripe")
    await topup_steps.continue_to_payment(page)
    await expect(page.get_by_text("Tollgate credit (12.34 USD)")).to_be_visible()
    await shoot(page, "stripe-checkout")
    await topup_steps.cancel_at_checkout(page)
    await expect(topup_steps.top_up_status(page)).to_have_text(
        re.compile(r"^\s*The payment was cancelled\. Nothing was charged\.\s*$")
    )
    await expect(page.get_by_role("link", name="Try again")).to_be_visible()
    await shoot(page, "result-cancelled")
    await people.choose_language(page, "简体中文")
    await expect(topup_steps.top_up_status(page)).to_contain_text("付款已取消，未产生任何扣款。")
    await shoot(page, "result-cancelled-zh-CN")
    await page.get_by_role("link", name="重试").click()
    await expect(page.get_by_role("heading", level=1, name="充值")).to_be_visible()
    await expect(page.get_by_label("其他金额（USD）")).to_have_value("12.34")
    await shoot(page, "top-up-again-zh-CN")
    assert await balance_of(db, user_id) == 0
    assert await top_ups_of(db, user_id) == 0
