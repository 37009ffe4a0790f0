"""The overview through the console: balance, held and available; spend today
and this month in the visitor's time zone; charts of spend and tokens per day
and model as inline SVG with a table of the same numbers; `?days=` chosen by
plain links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import aiohttp

from tests.accounts import Account, sign_up
from tests.console.conftest import ConsoleStack
from tests.relay import credit
from tests.usage.api import record
from tests.usage.factory import usage_event

_TABLE = re.compile(r'<div class="chart-table">.*?</table>', re.S)


async def _signed_in(base: ConsoleStack, browser: aiohttp.ClientSession) -> Account:
    account = await sign_up(base.stack.gateway)
    form = {"login": account.username, "password": "correct horse battery staple"}
    async with browser.post("/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return account


async def _overview(browser: aiohttp.ClientSession, query: str = "") -> str:
    async with browser.get(f"/{query}", allow_redirects=False) as response:
        assert response.status == 200, response.status
        page = await response.text()
    assert "style=" not in page and "<script>" not in page and " onclick" not in page
    return page


def _figure(page: str, label: str) -> str:
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd>([^<]*)</dd>", page)
    assert found is not None, label
    return found.group(1).strip()


def _start_of_today(zone: str) -> datetime:
    now = datetime.now(ZoneInfo(zone))
    return now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def test_a_new_account_sees_its_balance_and_no_usage_yet(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await _signed_in(console_stack, browser)
    await credit(console_stack.stack, account.id, Decimal("12.5"))
    page = await _overview(browser)
    assert _figure(page, "Balance") == "12.50 USD"
    assert _figure(page, "Held") == "0.00 USD"
    assert _figure(page, "Available") == "12.50 USD"
    assert _figure(page, "Spend today") == "0.00 USD"
    assert _figure(page, "Spend this month") == "0.00 USD"
    assert "No usage in the last 7 days." in page
    assert "<svg" not in page
    assert 'href="/?days=7" aria-current="true"' in page
    assert "Days start at midnight in UTC." in page  # no profile zone, no cookie


async def test_spend_and_charts_per_model_in_the_profiles_zone(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await _signed_in(console_stack, browser)
    zone = "Pacific/Kiritimati"  # UTC+14: its day differs from UTC's most of the time
    changed = await console_stack.stack.gateway.patch(
        "/api/me", json={"time_zone": zone}, headers=account.headers
    )
    assert changed.status == 200
    midnight = _start_of_today(zone)
    await record(
        console_stack.stack,
        [
            usage_event(
                account.id, at=midnight + timedelta(minutes=5), model="gpt-4o", cost="0.25"
            ),
            usage_event(account.id, at=midnight + timedelta(minutes=6), model="claude", cost="0.5"),
            # Yesterday in Kiritimati, whatever day it is in UTC.
            usage_event(account.id, at=midnight - timedelta(minutes=5), model="gpt-4o", cost="2"),
            usage_event(account.id, at=midnight - timedelta(days=40), model="gpt-4o", cost="7"),
        ],
    )
    page = await _overview(browser)
    assert f"Days start at midnight in {zone}." in page
    assert _figure(page, "Spend today") == "0.75 USD"
    first_of_month = midnight.astimezone(ZoneInfo(zone)).day == 1
    assert _figure(page, "Spend this month") == ("0.75 USD" if first_of_month else "2.75 USD")
    assert page.count('<svg class="chart-svg"') == 2
    assert 'role="img"' in page and "<title id=" in page
    assert 'class="series-0"' in page and 'class="series-1"' in page
    spend_table, tokens_table = _TABLE.findall(page)
    assert "<caption>Spend per day and model (USD)</caption>" in spend_table
    # The model spending most first: gpt-4o (2.25 in the week), then claude (0.50).
    assert re.search(r'<th scope="col">gpt-4o</th>\s*<th scope="col">claude</th>', spend_table)
    today = midnight.astimezone(ZoneInfo(zone)).date().isoformat()
    yesterday = (midnight - timedelta(minutes=5)).astimezone(ZoneInfo(zone)).date().isoformat()
    assert re.search(
        rf'<th scope="row">{today}</th>\s*<td>0.25</td>\s*<td>0.50</td>\s*<td>0.75</td>',
        spend_table,
    )
    assert re.search(
        rf'<th scope="row">{yesterday}</th>\s*<td>2.00</td>\s*<td>0.00</td>\s*<td>2.00</td>',
        spend_table,
    )
    assert "<caption>Tokens per day and model</caption>" in tokens_table
    # Each event has 100 input, 20 output and 5 cache read tokens.
    assert re.search(
        rf'<th scope="row">{today}</th>\s*<td>125</td>\s*<td>125</td>\s*<td>250</td>', tokens_table
    )
    assert "7.00" not in spend_table  # 40 days ago: outside the week


async def test_the_browsers_zone_when_the_profile_has_none(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await _signed_in(console_stack, browser)
    zone = "Pacific/Kiritimati"
    midnight = _start_of_today(zone)
    late = midnight - timedelta(minutes=10)  # yesterday there; today in UTC, most hours
    await record(console_stack.stack, [usage_event(account.id, at=late, cost="1")])
    browser.cookie_jar.update_cookies({"tz": zone})
    page = await _overview(browser)
    assert f"Days start at midnight in {zone}." in page
    assert _figure(page, "Spend today") == "0.00 USD"
    browser.cookie_jar.update_cookies({"tz": "Not/AZone"})
    page = await _overview(browser)
    assert "Days start at midnight in UTC." in page
    assert _figure(page, "Spend today") == (
        "1.00 USD" if late.date() == datetime.now(UTC).date() else "0.00 USD"
    )


async def test_the_period_is_chosen_by_a_link(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await _signed_in(console_stack, browser)
    now = datetime.now(UTC)
    await record(
        console_stack.stack,
        [
            usage_event(account.id, at=now - timedelta(days=20), model="gpt-4o", cost="3"),
            usage_event(account.id, at=now - timedelta(days=60), model="claude", cost="4"),
        ],
    )
    week = await _overview(browser)
    assert "No usage in the last 7 days." in week
    month = await _overview(browser, "?days=30")
    assert 'href="/?days=30" aria-current="true"' in month
    assert 'href="/?days=7" aria-current' not in month
    (spend, _) = _TABLE.findall(month)
    assert "gpt-4o" in spend and "claude" not in spend
    quarter = await _overview(browser, "?days=90")
    (spend, _) = _TABLE.findall(quarter)
    assert "gpt-4o" in spend and "claude" in spend
    assert "over the last 90 days: 7.00 USD in all." in quarter
    odd = await _overview(browser, "?days=9999")
    assert 'href="/?days=7" aria-current="true"' in odd


async def test_the_overview_in_chinese(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await _signed_in(console_stack, browser)
    await record(console_stack.stack, [usage_event(account.id, at=datetime.now(UTC), cost="1")])
    changed = await console_stack.stack.gateway.patch(
        "/api/me", json={"language": "zh-CN"}, headers=account.headers
    )
    assert changed.status == 200
    browser.cookie_jar.update_cookies({"lang": "zh-CN"})
    page = await _overview(browser)
    assert "今日支出" in page and "每日令牌数" in page and "30 天" in page
