"""Benchmark: what each console page costs a browser, in bytes and requests.

A fresh account (made an admin, so the admin pages count too) with a key and
a few relayed calls, in Debian's Chromium; each page is opened twice in one
browser profile: first with an empty cache ("cold": a first visit), then
again ("warm": the stylesheet and scripts come from the cache, `max-age`
3600). Bytes are what crossed the wire for the page and everything it loaded
(headers and bodies, as Chromium reports them). Numbers go in BENCHMARKS.md;
nothing is asserted but that each page answered 200.

    .venv/bin/python -m pytest -p tests.conftest -p tests.console.conftest \
        bench/console -s -q
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, Request, async_playwright

from tests.browser import people
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, WIDE
from tests.console.conftest import ConsoleStack
from tests.console.model_catalog import serve_mock_models

PAGES = (
    "/login",
    "/signup",
    "/",
    "/keys",
    "/keys/new",
    "/usage",
    "/billing",
    "/settings",
    "/settings/security",
    "/settings/sessions",
    "/admin/channels",
    "/admin/prices",
    "/admin/aliases",
    "/admin/system",
)
SIGNED_OUT = ("/login", "/signup")


async def _weigh(page: Page, path: str) -> tuple[int, int, int]:
    """(status, requests, bytes) of opening `path` in `page`."""
    requests: list[Request] = []

    def finished(request: Request) -> None:
        requests.append(request)

    page.on("requestfinished", finished)
    try:
        response = await page.goto(path)
        await page.wait_for_load_state("networkidle")
    finally:
        page.remove_listener("requestfinished", finished)
    total = 0
    for request in requests:
        sizes = await request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        total += sizes["requestBodySize"] + sizes["requestHeadersSize"]
    return (response.status if response else 0), len(requests), total


async def _fresh_page(browser: Browser, base: ConsoleStack, state: Any = None) -> Page:
    context = await browser.new_context(base_url=base.url, viewport=WIDE, storage_state=state)
    return await context.new_page()


async def test_page_weights(console_stack: ConsoleStack, db: Any) -> None:
    await serve_mock_models(console_stack)
    rows = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = await _fresh_page(browser, console_stack)
        await people.sign_up(page, username="weigher", email="weigher@example.com")
        link = await people.open_verification_mail(console_stack.sink, "weigher@example.com")
        await people.verify(page, link)
        await db.execute("UPDATE auth.users SET role = 'admin' WHERE username = 'weigher'")
        await people.sign_in(page, "weigher")
        await people.create_a_key(page, "weighing")
        state = await page.context.storage_state()
        await page.context.close()

        for path in PAGES:
            page = await _fresh_page(browser, console_stack, None if path in SIGNED_OUT else state)
            status, cold_requests, cold_bytes = await _weigh(page, path)
            _, warm_requests, warm_bytes = await _weigh(page, path)
            rows.append((path, status, cold_requests, cold_bytes, warm_requests, warm_bytes))
            await page.context.close()
        await browser.close()

    print("\n| page | status | requests (cold) | bytes (cold) | requests (warm) | bytes (warm) |")
    print("|---|---|---|---|---|---|")
    for path, status, cold_requests, cold_bytes, warm_requests, warm_bytes in rows:
        print(
            f"| `{path}` | {status} | {cold_requests} | {cold_bytes:,} | "
            f"{warm_requests} | {warm_bytes:,} |"
        )
    assert all(row[1] == 200 for row in rows), [row[:2] for row in rows if row[1] != 200]
