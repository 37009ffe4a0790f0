"""The first journey, whole (issue 17, point 8): a newcomer signs up, opens the
verification mail in the sink, verifies, signs in, creates a key, copies the
OpenAI SDK setup and runs it with the official SDK against the stack (its mock
provider answers), then finds that call in the usage log, in the overview's
chart and as a charge in the ledger, and exports the log as CSV."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from playwright.async_api import Page, expect

from tests.browser import overview_steps as overview
from tests.browser import people
from tests.browser.conftest import Shoot
from tests.browser.test_keys_journey import _run_python
from tests.console.conftest import ConsoleStack
from tests.console.model_catalog import serve_mock_models
from tests.relay import credit

MODEL = "gpt-4o-mini"


async def _until_the_call_is_in_the_log(page: Page) -> None:
    """Open the usage log, reloading (as a person would) until the call is there:
    usage events are recorded a moment after the answer."""
    await people.open_usage_log(page)
    for _ in range(100):
        if await page.get_by_role("cell", name=MODEL, exact=True).count():
            return
        await page.wait_for_timeout(100)
        await page.reload()
    raise AssertionError("the call never reached the usage log")


async def test_sign_up_to_a_call_seen_in_usage_chart_ledger_and_csv(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await serve_mock_models(console_stack)
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=console_stack.url
    )
    await people.sign_up(page, username="ada", email="ada@example.com")
    link = await people.open_verification_mail(console_stack.sink, "ada@example.com")
    await people.verify(page, link)
    await people.sign_in(page, "ada")
    me = await (await page.request.get("/api/me")).json()
    await credit(console_stack.stack, me["id"], Decimal(5))  # an operator's top-up

    await page.goto("/keys/new")
    await people.create_a_key(page, "laptop", models=(MODEL,))
    program = await people.copy_setup(page, "OpenAI Python SDK")
    status, out, err = await _run_python(program)
    assert status == 0, err
    assert out.strip()

    await _until_the_call_is_in_the_log(page)
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=MODEL, exact=True))
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("laptop")
    await shoot(page, "usage-log-with-the-call")
    await people.filter_usage(page, model=MODEL)  # swapped in place by htmx
    await expect(row).to_have_count(1)
    # htmx keeps no copy of a page (personal data, the CSRF token) in the browser's storage.
    stored = await page.evaluate(
        "() => [...Object.keys(sessionStorage), ...Object.keys(localStorage)]"
    )
    assert "htmx-history-cache" not in stored, stored  # (only the current path is kept)
    exported = list(csv.DictReader(io.StringIO(await people.export_usage_csv(page))))
    assert [record["model"] for record in exported] == [MODEL]
    cost = Decimal(exported[0]["cost"])
    assert cost > 0

    await people.open_billing(page)
    charge = page.get_by_role("row").filter(has_text=re.compile(r"usage", re.IGNORECASE))
    await expect(charge).to_have_count(1)
    await expect(charge).to_contain_text(f"-{cost}")
    await shoot(page, "ledger-with-the-charge")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    spend = overview.chart_table(page, "Spend per day and model (USD)")
    await expect(spend).to_contain_text(MODEL)
    assert await overview.amount_of(page, "Spend today") == cost
    await shoot(page, "overview-with-the-call")
