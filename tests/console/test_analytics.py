"""PostHog is off unless configured; when configured, its hosts (and only
then) are in the Content-Security-Policy, and its script is ours, deferred."""

from __future__ import annotations

import aiohttp

from services.console.analytics import configured
from services.console.security import CSP, policy
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack, start_console_stack


async def test_without_a_key_no_page_loads_analytics(console_stack: ConsoleStack) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{console_stack.url}/signup") as response:
            assert response.headers["Content-Security-Policy"] == CSP
            assert "analytics.js" not in await response.text()
            assert "posthog" not in CSP


async def test_with_a_key_pages_load_it_and_the_policy_names_its_hosts(
    stack: Stack, aiohttp_server: AiohttpServer
) -> None:
    console = await start_console_stack(
        stack, aiohttp_server, console_changes={"posthog_key": "phc_abc"}
    )
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{console.url}/signup") as response:
            page = await response.text()
            policy_sent = response.headers["Content-Security-Policy"]
    assert '<script src="/static/analytics.js" defer data-key="phc_abc"' in page
    assert 'data-assets="https://us-assets.i.posthog.com"' in page
    assert (
        "script-src 'self' https://us.i.posthog.com https://us-assets.i.posthog.com;" in policy_sent
    )
    assert (
        "connect-src 'self' https://us.i.posthog.com https://us-assets.i.posthog.com;"
        in policy_sent
    )
    assert "unsafe-inline" not in policy_sent and "frame-ancestors 'none'" in policy_sent


def test_a_self_hosted_posthog_serves_both() -> None:
    analytics = configured("phc_abc", "https://ph.example.com/")
    assert analytics is not None
    assert analytics.assets_host == analytics.api_host == "https://ph.example.com"
    assert analytics.hosts == ("https://ph.example.com",)
    assert configured(None, "https://ph.example.com") is None
    assert configured("", "https://ph.example.com") is None
    assert policy(None) == CSP
