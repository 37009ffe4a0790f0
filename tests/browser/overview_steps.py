"""Person-level steps about the overview: relayed calls made with a key (as a
program of the person's would), the figures and the charts' tables read as a
screen reader reads them, the period chosen by its link."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

import aiohttp
import openai
from playwright.async_api import Locator, Page, expect

from tests.accounts import PASSWORD


def _exact(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


async def api_token(base_url: str, login: str, password: str = PASSWORD) -> str:
    """A bearer token for the person's own programs (`POST /api/auth/login`)."""
    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            f"{base_url}/api/auth/login", json={"login": login, "password": password}
        )
        assert answer.status == 200, await answer.text()
        token: str = (await answer.json())["access_token"]
        return token


async def api_get(base_url: str, token: str, path: str) -> Any:
    async with aiohttp.ClientSession() as session:
        answer = await session.get(
            f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def create_key_by_api(base_url: str, token: str, name: str) -> str:
    """A new key's secret, made through `POST /api/keys`."""
    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            f"{base_url}/api/keys",
            json={"name": name},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status == 201, await answer.text()
        secret: str = (await answer.json())["key"]
        return secret


async def ask_models(base_url: str, secret: str, models: list[str]) -> None:
    """One chat completion per model in `models`, with the OpenAI SDK."""
    async with openai.AsyncOpenAI(
        api_key=secret, base_url=f"{base_url}/v1", max_retries=0
    ) as client:
        for model in models:
            reply = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Say hello"}]
            )
            assert reply.choices[0].message.content


async def charges_in_ledger(base_url: str, token: str, count: int) -> Decimal:
    """The sum of the account's usage charges, once `count` of them are in the ledger."""
    for _ in range(400):
        ledger = await api_get(base_url, token, "/api/billing/ledger?limit=100")
        charges = [e for e in ledger["data"] if e["kind"] == "usage_charge"]
        summary = await api_get(base_url, token, "/api/usage/summary?group_by=model")
        if len(charges) >= count and summary["total"]["requests"] >= count:
            assert len(charges) == count
            return -sum((Decimal(e["amount"]) for e in charges), Decimal(0))
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} usage charges never reached the ledger and the usage log")


def figure(page: Page, term: str) -> Locator:
    """The value shown for `term` (a <dt>) in the overview's figures."""
    return (
        page.locator("dl.figures > div")
        .filter(has=page.get_by_text(_exact(term)))
        .get_by_role("definition")
    )


async def amount_of(page: Page, term: str) -> Decimal:
    text = (await figure(page, term).inner_text()).split()[0]
    return Decimal(text)


async def choose_period(page: Page, label: str) -> None:
    """Follow a period's link ("30 days") and see it marked as the current one."""
    periods = page.get_by_role("navigation", name=_exact("Period"))
    async with page.expect_navigation():
        await periods.get_by_role("link", name=_exact(label)).click()
    await expect(periods.get_by_role("link", name=_exact(label))).to_have_attribute(
        "aria-current", "true"
    )


def chart_table(page: Page, caption: str) -> Locator:
    """A chart's numbers as a screen reader finds them: the table named by its caption."""
    return page.get_by_role("table", name=_exact(caption))
