"""The usage log through the console (/usage): filters passed to the API as typed,
in the visitor's zone; server-side pages by cursor; a totals row for the whole
filtered range; an export link carrying exactly the filters; only one's own usage."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.accounts import Account, create_key, sign_up
from tests.console.conftest import ConsoleStack
from tests.usage.api import record
from tests.usage.factory import usage_event

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _signed_in(base: ConsoleStack, browser: aiohttp.ClientSession) -> Account:
    account = await sign_up(base.stack.gateway)
    form = {"login": account.username, "password": "correct horse battery staple"}
    async with browser.post("/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return account


async def _page(browser: aiohttp.ClientSession, query: dict[str, str] | str = "") -> str:
    params = query if isinstance(query, dict) else None
    path = "/usage" if params is not None or not query else f"/usage?{query}"
    async with browser.get(path, params=params, allow_redirects=False) as response:
        assert response.status == 200, response.status
        page = await response.text()
    assert "style=" not in page and "<script>" not in page and " onclick" not in page
    return page


def _rows(page: str) -> list[list[str]]:
    """The body rows of the records table, cell texts."""
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    if body is None:
        return []
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def _totals(page: str) -> list[str]:
    foot = re.search(r"<tfoot>(.*?)</tfoot>", page, re.S)
    assert foot is not None
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", foot.group(1), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]


def _link(page: str, rel_or_text: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*>{re.escape(rel_or_text)}</a>', page)
    if found is None:
        found = re.search(rf'<a href="([^"]+)" rel="{re.escape(rel_or_text)}"', page)
    return html.unescape(found.group(1)) if found else None


def _export_query(page: str) -> dict[str, list[str]]:
    found = re.search(r'<a class="button" href="([^"]+)" download>Export CSV</a>', page)
    assert found is not None
    url = urlsplit(html.unescape(found.group(1)))
    assert url.path == "/api/usage/export"
    return parse_qs(url.query)


async def _events(account: Account, key_id: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        usage_event(
            account.id,
            f"req_{account.username}_{n:03d}",
            at=START + timedelta(minutes=n),
            key_id=key_id,
            cost=f"0.00{n % 9 + 1}",
            output_tokens=n,
            **fields,
        )
        for n in range(count)
    ]


async def test_an_empty_log_says_so(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    await _signed_in(console_stack, browser)
    page = await _page(browser)
    assert "<h1>Usage</h1>" in page
    assert "No requests yet. Calls made with your API keys will appear here." in page
    assert "<table" not in page
    assert "Times are in UTC." in page
    page = await _page(browser, {"model": "gpt-4o"})
    assert "No requests match these filters." in page


async def test_records_filters_totals_and_the_export_link(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    me = await _signed_in(console_stack, browser)
    key = await create_key(console_stack.stack.gateway, me, name="laptop")
    other_key = await create_key(console_stack.stack.gateway, me, name="server")
    mine = await _events(me, key["id"], 4)
    mine[1]["requested_model"] = "claude-sonnet-4"
    mine[2]["status"] = "upstream_error"
    mine[2]["http_status"] = 502
    mine.append(
        usage_event(
            me.id, "req_other_key", at=START + timedelta(minutes=10), key_id=other_key["id"]
        )
    )
    stranger = await sign_up(console_stack.stack.gateway)
    theirs = usage_event(stranger.id, "req_stranger", at=START, model="secret-model", cost="9")
    await record(console_stack.stack, [*mine, theirs])

    page = await _page(browser)
    rows = _rows(page)
    assert [row[0] for row in rows] == [
        "2026-03-01 12:10:00",
        "2026-03-01 12:03:00",
        "2026-03-01 12:02:00",
        "2026-03-01 12:01:00",
        "2026-03-01 12:00:00",
    ]
    assert rows[1] == [
        "2026-03-01 12:03:00",
        "gpt-4o-mini",
        "laptop",
        "Succeeded",
        "100",
        "3",
        "0.004",
    ]
    assert rows[2][3] == "Upstream error (502)"
    assert rows[0][2] == "server"
    assert "req_stranger" not in page and "secret-model" not in page
    assert _totals(page) == ["Total, whole range", "Failed: 1", "500", "26", "0.01015"]
    assert _export_query(page) == {"format": ["csv"]}
    # The model filter offers the models used, never someone else's.
    assert '<option value="claude-sonnet-4"' in page and "secret-model" not in page
    assert '<option value="' + key["id"] + '"' in page

    filters = {
        "from": "2026-03-01T12:01",
        "to": "2026-03-01T12:05",
        "model": "gpt-4o-mini",
        "key_id": key["id"],
        "status": "error",
    }
    page = await _page(browser, filters)
    assert [row[0] for row in _rows(page)] == ["2026-03-01 12:02:00"]
    assert _totals(page)[-1] == "0.003"
    assert _export_query(page) == {
        "format": ["csv"],
        "from": ["2026-03-01T12:01:00Z"],
        "to": ["2026-03-01T12:05:00Z"],
        "model": ["gpt-4o-mini"],
        "key_id": [key["id"]],
        "status": ["error"],
    }
    # The form shows the filters as typed.
    assert 'name="from" type="datetime-local" value="2026-03-01T12:01"' in page
    assert f'<option value="{key["id"]}" selected>' in page
    assert '<option value="error" selected>' in page

    # The export link downloads exactly the filtered rows.
    export = _export_query(page)
    async with browser.get(
        "/api/usage/export", params={name: values[0] for name, values in export.items()}
    ) as response:
        assert response.status == 200
        lines = (await response.text()).strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"req_{me.username}_002,")


async def test_times_are_in_the_tz_cookie_zone(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    me = await _signed_in(console_stack, browser)
    key = await create_key(console_stack.stack.gateway, me)
    await record(console_stack.stack, await _events(me, key["id"], 2))
    browser.cookie_jar.update_cookies({"tz": "Asia/Shanghai"})
    page = await _page(browser, {"from": "2026-03-01T20:01"})  # 12:01 UTC
    assert "Times are in Asia/Shanghai." in page
    assert [row[0] for row in _rows(page)] == ["2026-03-01 20:01:00"]
    assert _export_query(page)["from"] == ["2026-03-01T12:01:00Z"]


async def test_pages_follow_the_cursor_and_come_back(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    me = await _signed_in(console_stack, browser)
    key = await create_key(console_stack.stack.gateway, me)
    await record(console_stack.stack, await _events(me, key["id"], 7))
    seen: list[list[str]] = []
    page = await _page(browser, {"limit": "3", "model": "gpt-4o-mini"})
    assert _link(page, "prev") is None
    while True:
        seen.append([row[0][-8:] for row in _rows(page)])
        assert _totals(page)[2] == "700"  # the whole range on every page
        following = _link(page, "next")
        if following is None:
            break
        assert "model=gpt-4o-mini" in following and "limit=3" in following
        page = await _page(browser, following.split("?", 1)[1])
    assert seen == [
        ["12:06:00", "12:05:00", "12:04:00"],
        ["12:03:00", "12:02:00", "12:01:00"],
        ["12:00:00"],
    ]
    assert _link(page, "First page") is not None
    back = _link(page, "prev")
    assert back is not None
    page = await _page(browser, back.split("?", 1)[1])
    assert [row[0][-8:] for row in _rows(page)] == seen[1]
    back = _link(page, "prev")
    assert back is not None
    page = await _page(browser, back.split("?", 1)[1])
    assert [row[0][-8:] for row in _rows(page)] == seen[0]
    assert _link(page, "prev") is None


async def test_a_bad_time_or_cursor_is_a_sentence(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    await _signed_in(console_stack, browser)
    page = await _page(browser, {"from": "yesterday-ish"})
    assert "The start is not a date and time." in page
    page = await _page(browser, {"from": "2026-03-02T00:00", "to": "2026-03-01T00:00"})
    assert "The end is not a date and time, or it is not after the start." in page
    page = await _page(browser, {"cursor": "bm90LWEtY3Vyc29y"})
    assert "This page link no longer works; start again from the first page." in page


async def test_a_stranger_is_sent_to_sign_in(browser: aiohttp.ClientSession) -> None:
    for path in ("/usage", "/billing"):
        async with browser.get(path, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/login"
