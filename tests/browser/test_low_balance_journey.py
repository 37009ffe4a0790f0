"""The low-balance alert, by a person (issue 18, point 9): on the billing page
they ask to be mailed below 5.00, see it said back, mistype an amount and
are told how to write one, then turn the alert off."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.accounts import sign_up
from tests.browser import alert_steps, people
from tests.browser.conftest import Shoot
from tests.console.conftest import ConsoleStack


async def test_a_person_sets_a_low_balance_alert_and_turns_it_off(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    person = await sign_up(console_stack.stack.gateway)
    await people.sign_in(page, person.username)
    await people.open_billing(page)
    await alert_steps.alert_says(page, "The alert is off.")
    await shoot(page, "billing-alert-off")

    await alert_steps.set_alert(page, "5")
    await alert_steps.alert_says(page, "The alert was saved.")
    await alert_steps.alert_says(page, "You are mailed when your balance falls below 5.00 USD.")
    await expect(page.get_by_label("Mail me when my balance falls below")).to_have_value("5.00")
    await shoot(page, "billing-alert-saved")
    await page.emulate_media(color_scheme="dark")
    await shoot(page, "billing-alert-saved-dark")
    await page.emulate_media(color_scheme="light")

    await alert_steps.set_alert(page, "five")
    await expect(page.get_by_role("alert")).to_have_text(
        "Enter an amount such as 5.00 (no sign, at most 1000000)."
    )
    await shoot(page, "billing-alert-refused")

    await people.open_billing(page)
    await alert_steps.turn_alert_off(page)
    await alert_steps.alert_says(page, "The alert was turned off.")
    await shoot(page, "billing-alert-turned-off")
