"""The low-balance alert on /billing: a person sets a threshold with the form
(no script), sees it on the page, has a bad amount refused in a sentence, and
turns it off; a form without the CSRF token changes nothing."""

from __future__ import annotations

import html
from typing import Any

import aiohttp

from tests.console.conftest import ConsoleStack, browser_session
from tests.console.test_admin_pages import _page, _post, _sign_in


async def test_a_person_sets_and_turns_off_the_low_balance_alert(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    csrf = await _sign_in(console_stack, browser, db, admin=False)
    billing = await _page(browser, "/billing")
    assert "style=" not in billing and "<script>" not in billing
    assert "Low-balance alert" in billing and "The alert is off." in billing
    assert 'action="/billing/alert"' in billing
    assert '<label for="alert-threshold">Mail me when my balance falls below</label>' in billing
    assert "Turn the alert off" not in billing

    status, location, _ = await _post(
        browser, "/billing/alert", {"csrf_token": csrf, "threshold": "5", "action": "set"}
    )
    assert status == 303 and location.startswith("/billing?alert=saved")
    saved = html.unescape(await _page(browser, location.split("#")[0]))
    assert "The alert was saved." in saved
    assert "You are mailed when your balance falls below 5.00 USD." in saved
    assert 'value="5.00"' in saved and "Turn the alert off" in saved
    stored = await db.fetchval(
        "SELECT low_balance_threshold FROM billing.accounts a WHERE a.user_id = "
        "(SELECT id FROM auth.users WHERE email = (SELECT max(email) FROM auth.users))"
    )
    assert stored is not None and str(stored).startswith("5.0")

    status, _, refused = await _post(
        browser, "/billing/alert", {"csrf_token": csrf, "threshold": "-3", "action": "set"}
    )
    assert status == 422
    assert "Enter an amount such as 5.00 (no sign, at most 1000000)." in html.unescape(refused)
    assert 'value="-3"' in refused

    status, _, _ = await _post(browser, "/billing/alert", {"threshold": "", "action": "off"})
    assert status == 403
    assert "5.00 USD" in await _page(browser, "/billing")

    status, location, _ = await _post(
        browser, "/billing/alert", {"csrf_token": csrf, "threshold": "5.00", "action": "off"}
    )
    assert status == 303 and location.startswith("/billing?alert=off")
    off = html.unescape(await _page(browser, location.split("#")[0]))
    assert "The alert was turned off." in off and "The alert is off." in off


async def test_the_alert_section_reads_in_chinese(console_stack: ConsoleStack, db: Any) -> None:
    async with browser_session(console_stack, **{"Accept-Language": "zh-CN,zh;q=0.9"}) as client:
        await _sign_in(console_stack, client, db, admin=False)
        await db.execute("UPDATE auth.users SET language = 'zh-CN'")  # this test's one user
        page = await _page(client, "/billing")
    assert (
        "余额不足提醒" in page and "余额低于此金额时给我发邮件" in page and "提醒已关闭。" in page
    )
