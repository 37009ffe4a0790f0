"""Top-ups through the console, over real HTTP with the mock payment provider:
the form (presets, another amount, the enabled providers), the order made
through the API and the browser sent to the checkout the API returned (and to
no other place), the result page pending (htmx polling, a reload link) until
the mock's signed webhook lands, then paid with the new balance; a cancelled
checkout says nothing was charged; refused amounts and an unreachable
provider read as sentences; the orders page; someone else's order is not
found."""

from __future__ import annotations

import asyncio
import html
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from services.cli import dev_environment
from services.console.app_keys import SETTINGS
from services.console.pages import billing_topup
from services.console.pages.billing_topup import checkout_allowed
from services.console.settings import Settings as ConsoleSettings
from tests.console.conftest import browser_session
from tests.console.payments_stack import (
    PaymentsConsoleStack,
    balance_of,
    top_ups_of,
)
from tests.console.payments_stack import (
    payments_console_stack as payments_console_stack,  # noqa: F401 (the fixture)
)
from tests.console.test_admin_pages import _page, _post, _sign_in


def _clean(page: str) -> None:
    assert "style=" not in page and "<script>" not in page and " onclick" not in page


async def _user_id(browser: aiohttp.ClientSession) -> str:
    async with browser.get("/api/me") as response:
        found: str = (await response.json())["id"]
        return found


async def _start(
    browser: aiohttp.ClientSession, csrf: str, amount: str = "10", provider: str = "stripe"
) -> tuple[int, str, str]:
    form = {"csrf_token": csrf, "amount": amount, "custom_amount": "", "provider": provider}
    return await _post(browser, "/billing/topup", form)


async def _wait_for(browser: aiohttp.ClientSession, path: str, text: str) -> str:
    page = ""
    for _ in range(100):
        page = html.unescape(await _page(browser, path))
        if text in page:
            return page
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never on {path}: {page[:3000]}")


async def test_a_person_tops_up_10_usd_with_stripe_and_the_balance_rises_once(
    payments_console_stack: PaymentsConsoleStack, db: Any
) -> None:
    paying = payments_console_stack
    async with browser_session(paying.console) as browser:
        csrf = await _sign_in(paying.console, browser, db, admin=False)
        user_id = await _user_id(browser)
        for path in ("/", "/billing"):
            assert 'href="/billing/topup"' in await _page(browser, path)

        async with browser.get("/billing/topup") as response:
            assert response.status == 200
            policy = response.headers["Content-Security-Policy"]
            form = html.unescape(await response.text())
        assert f"form-action 'self' https: {paying.mock_url}" in policy
        _clean(form)
        for preset in ("5.00", "10.00", "20.00", "50.00", "100.00"):
            assert f'value="{preset}"' in form
        assert 'value="10.00" checked' in form  # the second preset to start with
        assert 'name="custom_amount"' in form and "From 5.00 to 1000.00 USD" in form
        assert 'value="stripe" checked' in form and 'value="creem"' in form
        assert "Creem takes only these amounts: 5.00, 10.00, 20.00, 50.00, 100.00 USD." in form

        status, location, page = await _start(browser, csrf, "10.00")
        assert status == 303, page[:2000]
        assert location.startswith(f"{paying.mock_url}/stripe/pay/cs_"), location
        session_id = urlsplit(location).path.rsplit("/", 1)[1]

        orders = await _page(browser, "/billing/orders")
        order_id = re.findall(r"/billing/topup/result\?order=([0-9a-f-]{36})", orders)[0]
        result = f"/billing/topup/result?order={order_id}"
        pending = html.unescape(await _page(browser, result + "&outcome=success"))
        _clean(pending)
        assert "Waiting for the payment provider to confirm the payment." in pending
        assert f'hx-get="/billing/topup/status?order={order_id}"' in pending
        assert 'hx-trigger="every 2s"' in pending
        assert f'href="{result}"' in pending  # the plain reload link
        assert await balance_of(db, user_id) == 0

        await paying.control("/_mock/stripe/webhooks/faults", {"copies": 3})
        await paying.control(f"/_mock/stripe/sessions/{session_id}/pay")
        await paying.settled(1)
        fragment = await _wait_for(
            browser, f"/billing/topup/status?order={order_id}", "was added to your balance"
        )
        assert "<html" not in fragment and "hx-trigger" not in fragment  # polling stops
        assert "Paid. 10.00 USD was added to your balance." in fragment
        assert "Your balance is now 10.00 USD." in fragment
        await asyncio.sleep(0.5)  # every copy of the webhook has landed
        assert await balance_of(db, user_id) == 10
        assert await top_ups_of(db, user_id) == 1

        orders = html.unescape(await _page(browser, "/billing/orders"))
        _clean(orders)
        assert "10.00 USD" in orders and "Stripe" in orders and "Paid" in orders
        # The paid order's receipt is linked, and opens in the browser's session.
        (receipt,) = re.findall(r'href="(/api/billing/orders/[0-9a-f-]{36}/receipt)"', orders)
        assert order_id in receipt and re.search(r">Receipt [0-9]+</a>", orders)
        async with browser.get(receipt, headers={"Accept": "text/html"}) as response:
            assert response.status == 200, await response.text()
            assert "10.00" in await response.text()


async def test_a_cancelled_checkout_says_nothing_was_charged_and_offers_another_try(
    payments_console_stack: PaymentsConsoleStack, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paying = payments_console_stack
    async with browser_session(paying.console) as browser:
        csrf = await _sign_in(paying.console, browser, db, admin=False)
        status, location, _ = await _start(browser, csrf, "20.00", "creem")
        assert status == 303 and location.startswith(f"{paying.mock_url}/creem/pay/"), location
        orders = await _page(browser, "/billing/orders")
        order_id = re.findall(r"/billing/topup/result\?order=([0-9a-f-]{36})", orders)[0]
        raw = await _page(browser, f"/billing/topup/result?order={order_id}&outcome=cancel")
        page = html.unescape(raw)
        assert "The payment was cancelled. Nothing was charged." in page
        assert "hx-trigger" not in page
        assert 'href="/billing/topup?amount=20.00&amp;provider=creem"' in raw
        again = html.unescape(await _page(browser, "/billing/topup?amount=20.00&provider=creem"))
        assert 'value="20.00" checked' in again and 'value="creem" checked' in again
        assert "<dd>Not paid</dd>" in page

        # A tab left open on a pending order stops polling after a while.
        monkeypatch.setattr(billing_topup, "POLL_MINUTES", 0)
        late = html.unescape(await _page(browser, f"/billing/topup/result?order={order_id}"))
        assert "hx-trigger" not in late
        assert "The payment provider has not confirmed a payment yet." in late
        assert f'href="/billing/topup/result?order={order_id}"' in late


async def test_refused_amounts_and_an_unreachable_provider_read_as_sentences(
    payments_console_stack: PaymentsConsoleStack, db: Any
) -> None:
    paying = payments_console_stack
    async with browser_session(paying.console) as browser:
        csrf = await _sign_in(paying.console, browser, db, admin=False)
        user_id = await _user_id(browser)
        form = {"csrf_token": csrf, "amount": "10.00", "custom_amount": "3", "provider": "stripe"}
        status, _, page = await _post(browser, "/billing/topup", form)
        assert status == 422
        assert "amount: from 5.00 to 1000.00 USD" in html.unescape(page)
        assert 'value="3"' in page  # the typed amount stays to be corrected
        status, _, page = await _start(browser, csrf, "7.00", "creem")
        assert status == 422 and "amount: creem offers" in html.unescape(page)
        status, _, page = await _start(browser, csrf, "", "stripe")
        assert status == 422 and "Choose an amount." in page
        status, _, page = await _start(browser, csrf, "10.00", "")
        assert status == 422 and "Choose how to pay." in page

        # The stripe client tries 3 times: the mock answers 503 to each.
        await paying.control("/_mock/stripe/api/faults", {"count": 3, "status": 503})
        status, location, page = await _start(browser, csrf, "10.00")
        assert status == 503 and not location
        assert (
            "The payment provider cannot be reached right now. Nothing was charged."
            in html.unescape(page)
        )
        assert await balance_of(db, user_id) == 0
        orders = html.unescape(await _page(browser, "/billing/orders"))
        assert "Failed" in orders
        order_id = re.findall(r"/billing/topup/result\?order=([0-9a-f-]{36})", orders)[0]
        failed = html.unescape(await _page(browser, f"/billing/topup/result?order={order_id}"))
        assert "This top-up could not be started. Nothing was charged." in failed
        assert "Try again" in failed


async def test_an_order_is_its_owners_alone_and_strangers_sign_in_first(
    payments_console_stack: PaymentsConsoleStack, db: Any
) -> None:
    paying = payments_console_stack
    async with browser_session(paying.console) as owner:
        csrf = await _sign_in(paying.console, owner, db, admin=False)
        status, _, _ = await _start(owner, csrf)
        assert status == 303
        orders = await _page(owner, "/billing/orders")
        order_id = re.findall(r"/billing/topup/result\?order=([0-9a-f-]{36})", orders)[0]
    async with browser_session(paying.console) as other:
        await _sign_in(paying.console, other, db, admin=False)
        assert "Page not found" in await _page(
            other, f"/billing/topup/result?order={order_id}", 404
        )
        await _page(other, f"/billing/topup/status?order={order_id}", 404)
        await _page(other, "/billing/topup/result?order=nonsense", 404)
        assert "No orders yet." in await _page(other, "/billing/orders")
    async with browser_session(paying.console) as stranger:
        for path in (
            "/billing/topup",
            "/billing/orders",
            f"/billing/topup/result?order={order_id}",
        ):
            async with stranger.get(path, allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"] == "/login"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://checkout.stripe.com/c/pay/cs_test_1", True),
        ("https://www.creem.io/test/checkout/prod_1/ch_1", True),
        ("http://127.0.0.1:8092/stripe/pay/cs_1", True),  # the configured mock
        ("http://127.0.0.1:8093/stripe/pay/cs_1", False),
        ("http://evil.example/pay", False),
        ("//evil.example/pay", False),
        ("/billing", False),
        ("javascript:alert(1)", False),
        ("https:///nohost", False),
        ("https://evil.example/\r\nSet-Cookie: x", False),
        (None, False),
    ],
)
def test_only_https_checkouts_or_the_mocks_are_followed(url: Any, allowed: bool) -> None:
    app: Any = {SETTINGS: ConsoleSettings(common=None, mock_payments_url="http://127.0.0.1:8092")}  # type: ignore[arg-type]
    request = make_mocked_request("POST", "/billing/topup", app=app)
    assert checkout_allowed(request, url) is allowed


def test_tollgate_dev_lets_the_console_send_browsers_to_the_mock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith(("MOCKPAYMENTS_", "STRIPE_", "CREEM_"))]:
        monkeypatch.delenv(name, raising=False)
    for name in ("GATEWAY_URL", "TOLLGATE_PUBLIC_URL", "PAYMENT_PROVIDERS"):
        monkeypatch.delenv(name, raising=False)
    env = dev_environment.environment("postgresql://x/y", "redis://127.0.0.1:6379/2", tmp_path)
    console = ConsoleSettings.from_env(env)
    assert console.mock_payments_url == env["MOCKPAYMENTS_URL"] == "http://127.0.0.1:8092"
    assert env["STRIPE_API_BASE"].startswith(console.mock_payments_url)
    # Outside `tollgate dev`, unset: only https checkouts are followed.
    assert ConsoleSettings.from_env({"TOLLGATE_ENV": "dev"}).mock_payments_url == ""
