"""The usage journey in a real browser: a newcomer's usage log and ledger are
empty and say so; after three calls made with a key through the official
OpenAI SDK (two to gpt-4o-mini, one to gpt-4o), the log lists the three, the
totals row sums the whole range; filtered by model it lists two and totals
two; "Export CSV" downloads exactly those two rows; the billing page shows
the three charges in the ledger with their request ids. Shot light and dark
at both widths; at 390 px the table scrolls inside its box, not the page.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from playwright.async_api import Locator, Page, expect

from tests.browser import overview_steps as api
from tests.browser import people
from tests.browser.conftest import NARROW, WIDE, Shoot
from tests.console.conftest import ConsoleStack
from tests.console.model_catalog import serve_mock_models
from tests.relay import credit
from tests.usage.api import record
from tests.usage.factory import usage_event


async def _shoot_light_and_dark(page: Page, shoot: Shoot, name: str) -> None:
    await shoot(page, name)
    await page.emulate_media(color_scheme="dark")
    await shoot(page, f"{name}-dark")
    await page.emulate_media(color_scheme="light")


def _table(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name=name).get_by_role("table")


async def _column(table: Locator, index: int) -> list[str]:
    """The cells of one column of the table's body rows."""
    rows = table.locator("tbody").get_by_role("row")
    return [
        (await rows.nth(n).get_by_role("cell").nth(index).inner_text()).strip()
        for n in range(await rows.count())
    ]


async def _totals(table: Locator) -> list[str]:
    """The totals row: its header, then its cells."""
    footer = table.locator("tfoot").get_by_role("row")
    cells = footer.get_by_role("rowheader").or_(footer.get_by_role("cell"))
    return [(await cells.nth(n).inner_text()).strip() for n in range(await cells.count())]


async def _scrolls_inside_at_390(page: Page, region: str) -> None:
    await page.set_viewport_size(NARROW)
    box = page.get_by_role("region", name=region)
    assert await box.evaluate("element => element.scrollWidth > element.clientWidth")
    assert await page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    await page.set_viewport_size(WIDE)


async def test_a_newcomer_sees_filters_totals_and_exports_their_usage(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await serve_mock_models(console_stack)
    await people.sign_up(page, username="hopper", email="hopper@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "hopper@example.com")
    )
    await people.sign_in(page, "hopper")

    await people.open_usage_log(page)
    await expect(
        page.get_by_text("No requests yet. Calls made with your API keys will appear here.")
    ).to_be_visible()
    await shoot(page, "usage-empty")
    await people.open_billing(page)
    await expect(
        page.get_by_text("No entries yet. Top-ups and charges for your requests will appear here.")
    ).to_be_visible()
    await shoot(page, "billing-empty")

    url = console_stack.url
    token = await api.api_token(url, "hopper")
    me = await api.api_get(url, token, "/api/me")
    await credit(console_stack.stack, me["id"], Decimal(5))
    secret = await api.create_key_by_api(url, token, "notebook")
    await api.ask_models(url, secret, ["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"])
    charged = await api.charges_in_ledger(url, token, 3)

    await people.open_usage_log(page)
    table = _table(page, "Usage table")
    assert await _column(table, 1) == ["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"]
    assert await _column(table, 2) == ["notebook"] * 3
    assert await _column(table, 3) == ["Succeeded"] * 3
    everything = await _totals(table)
    assert everything[0] == "Total, whole range"
    assert Decimal(everything[-1]) == charged  # the mock's prices: the estimate is the charge
    await expect(page.get_by_text("Requests in this range: 3")).to_be_visible()
    await _shoot_light_and_dark(page, shoot, "usage-three-calls")
    await _scrolls_inside_at_390(page, "Usage table")

    await people.filter_usage(page, model="gpt-4o-mini")
    await expect(page).to_have_url(re.compile(r"/usage\?(.*&)?model=gpt-4o-mini(&|$)"))
    await expect(page.get_by_text("Requests in this range: 2")).to_be_visible()
    assert await _column(table, 1) == ["gpt-4o-mini", "gpt-4o-mini"]
    filtered = await _totals(table)
    costs = [Decimal(cost) for cost in await _column(table, 6)]
    assert Decimal(filtered[-1]) == sum(costs, Decimal(0)) < charged
    inputs = [int(count) for count in await _column(table, 4)]
    assert int(filtered[2]) == sum(inputs)
    await shoot(page, "usage-filtered-by-model")

    await people.choose_quick_range(page, "Last 7 days")
    await expect(page).to_have_url(re.compile(r"/usage\?from=[0-9A-Z%:-]+&model=gpt-4o-mini$"))
    await expect(page.get_by_label("Model")).to_have_value("gpt-4o-mini")
    await expect(page.get_by_text("Requests in this range: 2")).to_be_visible()
    await shoot(page, "usage-last-7-days")

    exported = list(csv.DictReader(io.StringIO(await people.export_usage_csv(page))))
    assert [row["model"] for row in exported] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert sum((Decimal(row["cost"]) for row in exported), Decimal(0)) == Decimal(filtered[-1])
    listed = await api.api_get(url, token, "/api/usage?model=gpt-4o-mini")
    assert [row["event_id"] for row in exported] == [r["event_id"] for r in listed["data"]]

    await people.open_billing(page)
    ledger = _table(page, "Ledger table")
    kinds = await _column(ledger, 1)
    assert kinds == ["Usage charge"] * 3 + ["Top-up"]
    amounts = [Decimal(amount) for amount in await _column(ledger, 2)]
    assert amounts[-1] == Decimal(5) and all(amount < 0 for amount in amounts[:3])
    assert -sum(amounts[:3], Decimal(0)) == charged
    references = await _column(ledger, 4)
    assert {row["event_id"] for row in exported} <= set(references)
    balance = page.get_by_role("region", name="Balance")
    await expect(balance.get_by_role("definition").first).to_contain_text(
        str(Decimal(5) - charged).rstrip("0")
    )
    await _shoot_light_and_dark(page, shoot, "billing-ledger")
    await _scrolls_inside_at_390(page, "Ledger table")


async def test_a_person_reading_chinese_pages_through_failed_requests(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    """55 requests on record (3 of them failed) for a person whose account reads
    Simplified Chinese: the failed ones by the status filter, the rest page by page."""
    await people.sign_up(page, username="tu_youyou", email="tu@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "tu@example.com")
    )
    await people.sign_in(page, "tu_youyou")
    me = await (await page.request.get("/api/me")).json()
    changed = await page.request.patch(
        "/api/me",
        data={"language": "zh-CN"},
        headers={"Origin": console_stack.url, "X-CSRF-Token": await _csrf(page)},
    )
    assert changed.ok, await changed.text()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    events = [
        usage_event(me["id"], f"req_tu_{n:03d}", at=start + timedelta(minutes=n), key_id=None)
        for n in range(55)
    ]
    for n, status in ((50, "upstream_error"), (40, "rejected"), (7, "client_disconnected")):
        events[n].update(status=status, http_status=502 if n == 50 else 429 if n == 40 else 499)
    await record(console_stack.stack, events)

    await page.goto("/usage")
    await expect(page.get_by_role("heading", level=1, name="用量")).to_be_visible()
    await expect(page.get_by_text("此范围内的请求：55")).to_be_visible()
    table = _table(page, "用量表")
    assert len(await _column(table, 0)) == 50
    await shoot(page, "usage-zh-first-page")
    async with page.expect_navigation():
        await page.get_by_role("link", name="下一页").click()
    assert len(await _column(table, 0)) == 5
    await shoot(page, "usage-zh-second-page")
    async with page.expect_navigation():
        await page.get_by_role("link", name="上一页").click()
    assert len(await _column(table, 0)) == 50

    await page.get_by_label("状态").select_option(label="失败（任何错误）")
    async with page.expect_response(lambda answer: "/usage?" in answer.url):
        await page.get_by_role("button", name="显示").click()
    await expect(page.get_by_text("此范围内的请求：3")).to_be_visible()
    assert await _column(table, 3) == ["上游错误 (502)", "已拒绝 (429)", "客户端已断开 (499)"]
    await _shoot_light_and_dark(page, shoot, "usage-zh-failed")


async def _csrf(page: Page) -> str:
    session = await (await page.request.get("/api/auth/session")).json()
    token: str = session["csrf_token"]
    return token
