"""Redemption codes through the console: an admin creates a batch and sees its
codes once (with the warning), the batch list never shows a code, a person
redeems a code on the billing page's form and sees the credit and the new
balance, and a second try is refused in one sentence; only admins see the
admin page."""

from __future__ import annotations

import html
import re
from typing import Any

import aiohttp

from tests.console.conftest import ConsoleStack, browser_session
from tests.console.test_admin_pages import _page, _post, _sign_in

_CODE = re.compile(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){6}")


def _clean(page: str) -> None:
    assert "style=" not in page and "<script>" not in page and " onclick" not in page


async def test_an_admin_creates_codes_and_a_person_redeems_one_once(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    csrf = await _sign_in(console_stack, browser, db, admin=True)
    listing = await _page(browser, "/admin/redemption-codes")
    _clean(listing)
    assert "No batch yet." in listing and 'href="/admin/redemption-codes"' in listing
    form = {"csrf_token": csrf, "count": "3", "amount": "2.50", "note": "launch", "expires_at": ""}
    status, _, created = await _post(browser, "/admin/redemption-codes", form)
    assert status == 201, created[:2000]
    _clean(created)
    assert "Copy these codes now: they will not be shown again." in created
    codes = list(dict.fromkeys(_CODE.findall(created)))
    assert len(codes) == 3
    again = await _page(browser, "/admin/redemption-codes")
    assert not _CODE.search(again)
    assert "0 of 3" in again and "2.50 USD" in again and "launch" in again

    async with browser_session(console_stack) as person:
        person_csrf = await _sign_in(console_stack, person, db, admin=False)
        billing = await _page(person, "/billing")
        assert 'action="/billing/redeem"' in billing and "Redemption code" in billing
        redeem = {"csrf_token": person_csrf, "code": codes[0].lower()}
        status, _, redeemed = await _post(person, "/billing/redeem", redeem)
        assert status == 200, redeemed[:2000]
        _clean(redeemed)
        text = html.unescape(redeemed)
        assert "2.50 USD was added to your balance" in text
        assert "Your balance is now 2.50 USD." in text
        status, _, refused = await _post(person, "/billing/redeem", redeem)
        assert status == 400
        assert "This code cannot be redeemed. It may be mistyped, already used, or expired." in (
            html.unescape(refused)
        )
        assert await _page(person, "/admin/redemption-codes", 404)
    assert "1 of 3" in await _page(browser, "/admin/redemption-codes")


async def test_a_refused_batch_reads_the_api_problem(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    csrf = await _sign_in(console_stack, browser, db, admin=True)
    form = {"csrf_token": csrf, "count": "5000", "amount": "1", "note": "", "expires_at": ""}
    status, _, page = await _post(browser, "/admin/redemption-codes", form)
    assert status == 422 and 'role="alert"' in page and not _CODE.search(page)
    bad_time = {**form, "count": "1", "expires_at": "not a time"}
    status, _, page = await _post(browser, "/admin/redemption-codes", bad_time)
    assert status == 422 and "The expiry is not a time." in page
