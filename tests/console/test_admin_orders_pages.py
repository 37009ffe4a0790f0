"""The admin orders pages over real HTTP with the mock payment provider: the
list (status filter, a user's orders), an order's page with its refunds, the
refund form that asks first and then refunds through the provider (the
credit taken back at once), the same confirmation sent again later refunding
nothing, and the API's refusals read as sentences (too much, no reason,
Creem's API refunding only whole payments); a person who is not an admin
finds none of it."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from tests.console.conftest import browser_session
from tests.console.payments_stack import PaymentsConsoleStack, balance_of
from tests.console.payments_stack import (
    payments_console_stack as payments_console_stack,  # noqa: F401 (the fixture)
)
from tests.console.test_admin_pages import _page, _post, _sign_in
from tests.console.test_topup_pages import _clean, _start, _user_id, _wait_for

_SEEN = re.compile(r'name="seen" value="([0-9]+)"')


async def _paid_order(
    paying: PaymentsConsoleStack, db: Any, amount: str, provider: str
) -> tuple[str, str]:
    """A new user's paid top-up: (user id, order id)."""
    async with browser_session(paying.console) as browser:
        csrf = await _sign_in(paying.console, browser, db, admin=False)
        user_id = await _user_id(browser)
        status, location, page = await _start(browser, csrf, amount, provider)
        assert status == 303, page[:2000]
        checkout = urlsplit(location).path.rsplit("/", 1)[1]
        orders = await _page(browser, "/billing/orders")
        order_id = re.findall(r"/billing/topup/result\?order=([0-9a-f-]{36})", orders)[0]
        path = "sessions" if provider == "stripe" else "checkouts"
        await paying.control(f"/_mock/{provider}/{path}/{checkout}/pay")
        await _wait_for(browser, f"/billing/topup/status?order={order_id}", "Paid.")
    return user_id, order_id


async def _confirm(
    browser: aiohttp.ClientSession, order_id: str, amount: str, reason: str, status: int = 200
) -> str:
    query = urlencode({"amount": amount, "reason": reason})
    return html.unescape(await _page(browser, f"/admin/orders/{order_id}/refund?{query}", status))


async def test_an_admin_refunds_part_of_an_order_once(
    payments_console_stack: PaymentsConsoleStack, db: Any
) -> None:
    paying = payments_console_stack
    user_id, order_id = await _paid_order(paying, db, "10.00", "stripe")
    assert await balance_of(db, user_id) == 10
    async with browser_session(paying.console) as browser:
        csrf = await _sign_in(paying.console, browser, db, admin=True)
        listed = html.unescape(await _page(browser, "/admin/orders"))
        _clean(listed)
        assert 'href="/admin/orders"' in listed  # in the admin nav
        assert f'href="/admin/orders/{order_id}"' in listed
        assert "10.00 USD" in listed and "Stripe" in listed and "Paid" in listed
        assert f"/api/billing/orders/{order_id}/receipt" in listed
        paid = await _page(browser, "/admin/orders?status=paid")
        assert order_id in paid
        assert order_id not in await _page(browser, "/admin/orders?status=refunded")
        mine = await _page(browser, f"/admin/orders?user={user_id}")
        assert order_id in mine and "Only the orders of user" in html.unescape(mine)

        page = html.unescape(await _page(browser, f"/admin/orders/{order_id}"))
        _clean(page)
        assert 'name="amount" inputmode="decimal" required maxlength="30" value="10.00"' in page
        assert "None yet." in page and "10.00 USD is left to refund." in page

        asked = await _confirm(browser, order_id, "4.00", "asked by mail")
        _clean(asked)
        assert "This cannot be undone." in asked and "Reason: asked by mail" in asked
        assert _SEEN.findall(asked) == ["0"]
        assert await balance_of(db, user_id) == 10  # asking first refunds nothing
        form = {"csrf_token": csrf, "amount": "4.00", "reason": "asked by mail", "seen": "0"}
        status, location, text = await _post(browser, f"/admin/orders/{order_id}/refund", form)
        assert status == 303, text[:2000]
        assert location == f"/admin/orders/{order_id}?refunded=1"
        assert await balance_of(db, user_id) == 6
        done = html.unescape(await _page(browser, location))
        assert "Refunded. The credit was taken back" in done
        assert "Partly refunded" in done and "−4.00 USD" in done
        assert "6.00 USD is left to refund." in done and 'value="6.00"' in done

        # The same confirmation sent again (the back button): nothing more.
        status, _, text = await _post(browser, f"/admin/orders/{order_id}/refund", form)
        assert status == 409
        assert "This order was refunded in the meantime" in html.unescape(text)
        assert await balance_of(db, user_id) == 6
        # Too much, and no reason.
        too_much = {**form, "amount": "6.01", "seen": "400"}
        status, _, text = await _post(browser, f"/admin/orders/{order_id}/refund", too_much)
        assert status == 422 and "This amount cannot be refunded." in html.unescape(text)
        assert "at most 6.00 USD is left to refund" in text
        no_reason = await _confirm(browser, order_id, "1.00", "", status=422)
        assert "Write a reason for the refund." in no_reason
        not_money = await _confirm(browser, order_id, "4,00", "typo", status=422)
        assert "This amount cannot be refunded. Nothing was refunded." in not_money
        # Without the CSRF token: refused.
        status, _, _ = await _post(
            browser, f"/admin/orders/{order_id}/refund", {**form, "csrf_token": "x", "seen": "400"}
        )
        assert status == 403
        assert await balance_of(db, user_id) == 6
        assert order_id in await _page(browser, "/admin/orders?status=partially_refunded")


async def test_creem_refuses_part_of_a_payment_in_a_sentence(
    payments_console_stack: PaymentsConsoleStack, db: Any
) -> None:
    paying = payments_console_stack
    user_id, order_id = await _paid_order(paying, db, "20.00", "creem")
    async with browser_session(paying.console) as browser:
        csrf = await _sign_in(paying.console, browser, db, admin=True)
        form = {"csrf_token": csrf, "amount": "5.00", "reason": "partial", "seen": "0"}
        status, _, text = await _post(browser, f"/admin/orders/{order_id}/refund", form)
        assert status == 409, text[:2000]
        assert "Creem refunds only a whole payment through its API" in html.unescape(text)
        assert await balance_of(db, user_id) == 20
        whole = {**form, "amount": "20.00"}
        status, location, text = await _post(browser, f"/admin/orders/{order_id}/refund", whole)
        assert status == 303, text[:2000]
        assert await balance_of(db, user_id) == 0
        done = html.unescape(await _page(browser, location))
        assert "Refunded" in done and "Nothing can be refunded" in done


async def test_a_person_who_is_not_an_admin_finds_no_orders_page(
    payments_console_stack: PaymentsConsoleStack, db: Any
) -> None:
    paying = payments_console_stack
    _, order_id = await _paid_order(paying, db, "5.00", "stripe")
    async with browser_session(paying.console) as browser:
        csrf = await _sign_in(paying.console, browser, db, admin=False)
        for path in ("/admin/orders", f"/admin/orders/{order_id}"):
            await _page(browser, path, 404)
        form = {"csrf_token": csrf, "amount": "1.00", "reason": "x", "seen": "0"}
        status, _, _ = await _post(browser, f"/admin/orders/{order_id}/refund", form)
        assert status == 404
