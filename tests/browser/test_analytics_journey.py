"""Product analytics is a side channel (DESIGN 8): with PostHog configured but
unreachable (its host accepts connections and never answers), a newcomer
signs up, verifies, signs in, creates a key and copies a setup the same; the
events wait in the page's queue for a library that never arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from tests.browser import people
from tests.browser.conftest import Visits
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack, start_console_stack
from tests.console.model_catalog import serve_mock_models


@pytest.fixture
async def silent_host() -> AsyncIterator[str]:
    """A host that accepts connections and never answers (the worst kind of down)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()


@pytest.fixture
async def console_stack(
    stack: Stack, aiohttp_server: AiohttpServer, silent_host: str, visits: Visits
) -> ConsoleStack:
    visits.unreachable = (silent_host,)
    return await start_console_stack(
        stack,
        aiohttp_server,
        console_changes={"posthog_key": "phc_test_project", "posthog_host": silent_host},
    )


async def _queued_events(page: Page) -> list[str]:
    queued: list[list[str]] = await page.evaluate(
        "() => Array.from(window.posthog || []).filter(Array.isArray)"
    )
    return [call[1] for call in queued if call and call[0] == "capture"]


async def test_sign_up_sign_in_a_key_and_a_copied_setup_work_the_same_when_posthog_never_answers(
    page: Page, console_stack: ConsoleStack, silent_host: str
) -> None:
    response = await page.goto("/signup")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert f"script-src 'self' {silent_host}" in policy
    assert f"connect-src 'self' {silent_host}" in policy
    await people.sign_up(page, username="grace", email="grace@example.com")
    await expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    assert "signed_up" in await _queued_events(page)

    link = await people.open_verification_mail(console_stack.sink, "grace@example.com")
    await page.goto(link)
    await people.verify(page, link)
    await page.goto("/login")
    await people.sign_in(page, "grace")
    await expect(page.get_by_text("Signed in as grace")).to_be_visible()

    await serve_mock_models(console_stack)
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=console_stack.url
    )
    secret = await people.create_a_key(page, "laptop")
    assert "key_created" in await _queued_events(page)
    program = await people.copy_setup(page, "OpenAI Python SDK")
    assert secret in program
    assert "config_copied" in await _queued_events(page)
    # The library never arrived: the queue is still the stub's.
    assert await page.evaluate("() => Array.isArray(window.posthog) && window.posthog.__SV === 1")
