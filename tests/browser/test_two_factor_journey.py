"""Two-factor sign-in in a real browser, from a fresh account: turn it on from
the QR code page (the test plays the authenticator app with pyotp, from the
key shown beside the code), keep the recovery codes (copied with the button),
sign out, sign in with a code from the app, then with a recovery code; new
recovery codes, and off again. The theme is dark meanwhile: the QR code must
stay readable (dark on white).
"""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser import people, settings_steps
from tests.browser.conftest import Shoot
from tests.console.conftest import ConsoleStack


async def test_a_person_turns_on_two_factor_and_signs_in_with_a_code_then_a_recovery_code(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=console_stack.url
    )
    await people.sign_up(page, username="grace", email="grace@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "grace@example.com")
    )
    await people.sign_in(page, "grace")
    await shoot(page, "overview")

    await settings_steps.open_settings(page)
    await shoot(page, "settings-profile")
    await settings_steps.save_theme(page, "Dark")
    await expect(page.locator("html")).to_have_class("theme-dark")
    await settings_steps.open_settings_tab(page, "Security")
    await expect(page.get_by_text("Two-factor sign-in is off.", exact=False)).to_be_visible()
    await shoot(page, "settings-security-two-factor-off")

    secret = await settings_steps.start_two_factor(page)
    await shoot(page, "two-factor-qr-code-dark")
    await settings_steps.steady_moment()
    codes = await settings_steps.confirm_two_factor(page, settings_steps.code_of_last_step(secret))
    assert len(codes) == 10 and len(set(codes)) == 10
    copied = await settings_steps.copy_recovery_codes(page)
    assert copied.split() == codes
    await shoot(page, "recovery-codes")
    await settings_steps.done_with_recovery_codes(page)
    await expect(page.get_by_text("Two-factor sign-in is on:", exact=False)).to_be_visible()
    await shoot(page, "settings-security-two-factor-on")

    await people.sign_out(page)
    await settings_steps.reach_the_second_step(page, "grace")
    await shoot(page, "second-step")
    await settings_steps.answer_the_second_step(page, settings_steps.code_now(secret))
    await expect(page.get_by_text("Signed in as grace")).to_be_visible()

    await people.sign_out(page)
    await settings_steps.sign_in_with_second_factor(page, "grace", codes[0])
    await expect(page.get_by_text("Signed in as grace")).to_be_visible()
    await shoot(page, "signed-in-with-a-recovery-code")

    # A recovery code is spent once; new ones replace what is left; then off again.
    await settings_steps.open_settings(page)
    await settings_steps.open_settings_tab(page, "Security")
    fresh = await settings_steps.ask_for_new_recovery_codes(page, codes[1])
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    await shoot(page, "new-recovery-codes")
    await settings_steps.done_with_recovery_codes(page)
    await settings_steps.turn_off_two_factor(page, fresh[0])
    await shoot(page, "two-factor-off-again")
    await people.sign_out(page)
    await people.sign_in(page, "grace")  # the password alone again
