"""Errors reach people as pages in their language, never as the API's JSON."""

from __future__ import annotations

import aiohttp

from services.console.security import CSP
from tests.console.conftest import ConsoleStack


async def test_an_unknown_address_is_a_page_in_the_visitors_language(
    console_stack: ConsoleStack,
) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{console_stack.url}/no/such/page") as response:
            assert response.status == 404
            assert response.content_type == "text/html"
            assert response.headers["Content-Security-Policy"] == CSP
            page = await response.text()
            assert "There is no page at this address" in page
            assert 'href="/"' in page
        async with client.get(
            f"{console_stack.url}/no/such/page", headers={"Accept-Language": "zh-CN"}
        ) as response:
            assert response.status == 404
            assert "页面不存在" in await response.text()


async def test_a_form_from_another_site_is_a_page_that_says_so(console_stack: ConsoleStack) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.post(
            f"{console_stack.url}/preferences",
            data={"theme": "dark"},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as response:
            assert response.status == 403
            assert response.content_type == "text/html"
            assert "not open to you here" in await response.text()
            assert "Set-Cookie" not in response.headers


async def test_machines_keep_their_json_answers(console_stack: ConsoleStack) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{console_stack.url}/api/no-such-endpoint") as response:
            assert response.status == 404
            assert response.content_type == "application/json"
