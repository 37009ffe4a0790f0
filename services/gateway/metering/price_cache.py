"""The gateway's in-memory price table, fetched from billing.

Holds are computed from it on every relayed request, so it lives in memory:
loaded at start, reloaded when billing announces a price change (Redis
notice), when the notice feed reconnects, and when a request names a model
the table has no price for: at once while no load has succeeded yet (billing
came up after the gateway: `tollgate dev` starts them together), else at most
every few seconds. Requests that miss together share one reload.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import aiohttp

from shared.internal import TOKEN_HEADER
from shared.pricing import Price, price_at

_log = logging.getLogger(__name__)
MISS_RELOAD_SECONDS = 5.0


class PriceCache:
    def __init__(self, session: aiohttp.ClientSession, billing_url: str, token: str) -> None:
        self._session = session
        self._url = f"{billing_url}/internal/prices"
        self._token = token
        self._versions: dict[str, list[Price]] = {}
        self._loaded_at = 0.0
        self._loaded = False  # a load has succeeded
        self._attempts = 0
        # One reload at a time, so an older answer never replaces a newer one.
        self._reloading = asyncio.Lock()

    async def reload(self) -> None:
        async with self._reloading:
            await self._reload()

    async def _reload(self) -> None:
        self._loaded_at = time.monotonic()
        try:
            await self._fetch()
        finally:
            self._attempts += 1  # finished reloads, so a waiter can tell one ended

    async def _fetch(self) -> None:
        try:
            async with self._session.get(
                self._url,
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                response.raise_for_status()
                body = await response.json()
            versions: dict[str, list[Price]] = {}
            for row in body["prices"]:
                price = _price(row)
                versions.setdefault(price.model, []).append(price)
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError, InvalidOperation) as exc:
            _log.warning("price reload failed; keeping the last table", extra={"reason": str(exc)})
            return
        self._versions = versions
        self._loaded = True

    async def current(self, model: str) -> Price | None:
        found = price_at(self._versions.get(model, ()), datetime.now(UTC))
        stale = time.monotonic() - self._loaded_at > MISS_RELOAD_SECONDS
        if found is None and (stale or not self._loaded):
            await self._reload_after_miss()
            found = price_at(self._versions.get(model, ()), datetime.now(UTC))
        return found

    async def _reload_after_miss(self) -> None:
        """A reload, unless one finished while this request waited for the lock."""
        attempts = self._attempts
        async with self._reloading:
            if self._attempts == attempts:
                await self._reload()

    def at(self, model: str, when: datetime) -> Price | None:
        return price_at(self._versions.get(model, ()), when)

    async def on_changed(self, notice: str) -> None:
        await self.reload()

    async def on_live(self, live: bool) -> None:
        if live:
            await self.reload()


def _price(row: dict[str, object]) -> Price:
    return Price(
        model=str(row["model"]),
        effective_from=datetime.fromisoformat(str(row["effective_from"])),
        input=Decimal(str(row["input"])),
        output=Decimal(str(row["output"])),
        cache_read=Decimal(str(row["cache_read"])),
        cache_write=Decimal(str(row["cache_write"])),
        web_search=Decimal(str(row.get("web_search") or 0)),
        max_output_tokens=int(str(row.get("max_output_tokens") or 8192)),
    )
