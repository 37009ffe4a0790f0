"""An account's figures on its admin page (`/admin/users/{id}`): balance, held and
available (billing's `GET /api/admin/balances/{id}`) and its latest 20 calls
(usage's `GET /api/admin/usage?user_id=`) in the admin's time zone; and a usage
charge's price multiplier on the person's own ledger (`/billing`)."""

from __future__ import annotations

import html
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp

from services.billing.charging import charge_batch
from services.usage.recording import record_batch
from shared.service import DB
from shared.usage_event import read
from tests.accounts import PASSWORD, sign_up
from tests.billing.conftest import add_price, price, usage_event
from tests.console.conftest import ConsoleStack
from tests.relay import credit
from tests.usage.factory import usage_event as usage_record


async def _sign_in(
    base: ConsoleStack, browser: aiohttp.ClientSession, db: Any, *, admin: bool, zone: str = ""
) -> str:
    account = await sign_up(base.stack.gateway)
    if admin:
        await db.execute(
            "UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(account.id)
        )
    if zone:
        await db.execute(
            "UPDATE auth.users SET time_zone = $2 WHERE id = $1", uuid.UUID(account.id), zone
        )
    login = {"login": account.username, "password": PASSWORD}
    async with browser.post("/login", data=login, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return account.id


async def _page(browser: aiohttp.ClientSession, path: str, status: int = 200) -> str:
    async with browser.get(path, allow_redirects=False) as response:
        text = await response.text()
        assert response.status == status, (path, response.status, text[:2000])
    assert "style=" not in text and "<script>" not in text
    return html.unescape(text)


def _section(page: str, heading_id: str) -> str:
    found = re.search(rf'<section aria-labelledby="{heading_id}"[^>]*>(.*?)</section>', page, re.S)
    assert found is not None, heading_id
    return found.group(1)


def _calls(page: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", _section(page, "user-calls"), re.S)
    if body is None:
        return []
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


async def test_the_account_page_shows_its_balance_and_latest_calls(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    await _sign_in(console_stack, browser, db, admin=True, zone="Asia/Shanghai")
    person = await sign_up(console_stack.stack.gateway)
    page = await _page(browser, f"/admin/users/{person.id}")
    figures = _section(page, "user-credit")
    assert re.search(r"<dt>Balance</dt><dd>0.00 USD</dd>", figures), figures
    assert "No calls yet." in _section(page, "user-calls")
    assert "no other way to read another account" not in page

    await credit(console_stack.stack, person.id, Decimal("7.25"))
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    events = [
        usage_record(person.id, f"req_{n:03d}", at=at + timedelta(minutes=n)) for n in range(25)
    ]
    failed = usage_record(
        person.id,
        "req_failed",
        at=at + timedelta(hours=1),
        status="upstream_error",
        cost="0.001500000000",
    )
    someone_else = usage_record(uuid.uuid4(), "req_not_theirs", at=at + timedelta(hours=2))
    await record_batch(
        console_stack.stack.usage.app[DB], [read(e) for e in [*events, failed, someone_else]]
    )

    page = await _page(browser, f"/admin/users/{person.id}")
    figures = _section(page, "user-credit")
    assert re.search(r"<dt>Balance</dt><dd>7.25 USD</dd>", figures), figures
    assert re.search(r"<dt>Held</dt><dd>0.00 USD</dd>", figures)
    assert re.search(r"<dt>Available</dt><dd>7.25 USD</dd>", figures)
    calls = _calls(page)
    assert len(calls) == 20  # the latest 20, newest first
    assert "Time (Asia/Shanghai)" in _section(page, "user-calls")
    newest = calls[0]
    assert newest[0] == "2026-03-02 08:30:00"  # 00:30 UTC in Shanghai
    assert newest[1] == "gpt-4o-mini"
    assert newest[2] == failed["key_id"][:8]
    assert newest[3].startswith("Upstream error")
    assert newest[4:] == ["100", "20", "0.0015"]
    assert calls[1][0] == "2026-03-02 07:54:00"  # req_024: 23:30 + 24 minutes UTC
    assert calls[-1][0] == "2026-03-02 07:36:00"  # req_006: the 20th newest
    assert "req_not_theirs" not in page


async def test_when_billing_and_usage_cannot_answer_the_page_says_so(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    await _sign_in(console_stack, browser, db, admin=True)
    person = await sign_up(console_stack.stack.gateway)
    await console_stack.stack.billing.close()
    await console_stack.stack.usage.close()
    page = await _page(browser, f"/admin/users/{person.id}")
    assert "The balance cannot be shown right now." in page
    assert "The account’s usage cannot be shown right now." in page
    assert person.email in page  # the rest of the account is still there


async def test_a_person_who_is_not_an_admin_sees_no_other_account(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    await _sign_in(console_stack, browser, db, admin=False)
    other = await sign_up(console_stack.stack.gateway)
    await credit(console_stack.stack, other.id, Decimal(3))
    page = await _page(browser, f"/admin/users/{other.id}", status=404)
    assert "3.00 USD" not in page


async def test_the_ledger_shows_a_usage_charges_price_multiplier_unless_it_is_1(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    user_id = await _sign_in(console_stack, browser, db, admin=False)
    await credit(console_stack.stack, user_id, Decimal(10))
    model = f"m-{secrets.token_hex(4)}"
    pool: Any = console_stack.stack.billing.app[DB]
    async with pool.acquire() as connection:
        await add_price(connection, price(model))
    owner = uuid.UUID(user_id)
    scaled = usage_event(
        "req-scaled", user_id=owner, model=model, input_tokens=500_000, price_multiplier="1.5"
    )
    plain = usage_event("req-plain", user_id=owner, model=model, input_tokens=500_000)
    await charge_batch(pool, [read(scaled), read(plain)])
    page = await _page(browser, "/billing")
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    scaled_row = next(row for row in rows if "req-scaled" in row)
    plain_row = next(row for row in rows if "req-plain" in row)
    assert "(price ×1.5)" in scaled_row and "-0.75" in scaled_row
    assert "price ×" not in plain_row and "-0.50" in plain_row
    assert "price ×" not in next(row for row in rows if "Top-up" in row or "Credit" in row)
