"""The billing page through the console (/billing): balance, held, available; the
ledger newest first with kinds translated, signed amounts, balance after and the
reference; pages by `before` there and back; only one's own entries."""

from __future__ import annotations

import html
import re
import uuid
from decimal import Decimal

import aiohttp

from services.billing import ledger
from shared import db
from tests.accounts import Account, sign_up
from tests.console.conftest import ConsoleStack
from tests.relay import credit


async def _signed_in(base: ConsoleStack, browser: aiohttp.ClientSession) -> Account:
    account = await sign_up(base.stack.gateway)
    form = {"login": account.username, "password": "correct horse battery staple"}
    async with browser.post("/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return account


async def _page(browser: aiohttp.ClientSession, query: str = "") -> str:
    async with browser.get(f"/billing{query}", allow_redirects=False) as response:
        assert response.status == 200, response.status
        page = await response.text()
    assert "style=" not in page and "<script>" not in page and " onclick" not in page
    return page


def _rows(page: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    if body is None:
        return []
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}"', page)
    return html.unescape(found.group(1)) if found else None


async def _adjust(base: ConsoleStack, user_id: str, amount: Decimal, reason: str) -> None:
    """An adjustment as an operator's correction posts it: a transaction of two entries."""
    url = base.stack.common.database_url
    async with db.pool(url, max_size=1) as pool, pool.acquire() as connection:
        async with connection.transaction():
            account = await ledger.user_account(connection, uuid.UUID(user_id))
            writeoff = await ledger.system_account(connection, "writeoff")
            await ledger.post(
                connection, "adjustment", [(writeoff, -amount), (account, amount)], reason=reason
            )


async def test_a_new_account_has_no_entries(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    await _signed_in(console_stack, browser)
    page = await _page(browser)
    assert "<h1>Billing</h1>" in page
    assert re.search(r"<dt>Balance</dt><dd>0(\.0+)? USD</dd>", page)
    assert "No entries yet. Top-ups and charges for your requests will appear here." in page
    assert 'aria-current="page"' in page and 'href="/billing"' in page


async def test_the_ledger_newest_first_signed_and_paged(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    me = await _signed_in(console_stack, browser)
    stranger = await sign_up(console_stack.stack.gateway)
    await credit(console_stack.stack, stranger.id, Decimal("99"))
    await credit(console_stack.stack, me.id, Decimal("5"))
    await _adjust(console_stack, me.id, Decimal("-0.25"), "goodwill correction")
    await credit(console_stack.stack, me.id, Decimal("1.5"))

    page = await _page(browser)
    assert re.search(r"<dt>Balance</dt><dd>6\.25(0*) USD</dd>", page), page
    assert re.search(r"<dt>Available</dt><dd>6\.25(0*) USD</dd>", page)
    rows = _rows(page)
    assert [(row[1], row[2]) for row in rows] == [
        ("Top-up", "+1.50"),
        ("Adjustment", "-0.25"),
        ("Top-up", "+5.00"),
    ]
    assert [Decimal(row[3]) for row in rows] == [Decimal("6.25"), Decimal("4.75"), Decimal("5")]
    assert rows[1][4] == "goodwill correction"
    assert "99" not in "".join(cell for row in rows for cell in row)
    assert _link(page, "next") is None

    # One entry a page: older, older, end; then back to the newest.
    page = await _page(browser, "?limit=1")
    seen = [_rows(page)[0][2]]
    while (older := _link(page, "next")) is not None:
        assert "limit=1" in older
        page = await _page(browser, older.removeprefix("/billing"))
        seen.extend(row[2] for row in _rows(page))
    # The last full page of one leads to an empty page that says so.
    assert seen[:3] == ["+1.50", "-0.25", "+5.00"]
    newer = _link(page, "prev")
    while newer is not None:
        page = await _page(browser, newer.removeprefix("/billing"))
        newer = _link(page, "prev")
    assert [row[2] for row in _rows(page)] == ["+1.50"]


async def test_zh_cn_kinds_are_translated(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    me = await _signed_in(console_stack, browser)
    await credit(console_stack.stack, me.id, Decimal("2"))
    changed = await console_stack.stack.gateway.patch(
        "/api/me", json={"language": "zh-CN"}, headers=me.headers
    )
    assert changed.status == 200, await changed.text()
    page = await _page(browser)
    assert "<h1>账单</h1>" in page
    assert _rows(page)[0][1] == "充值"
    assert "账目明细" in page
