"""Asking billing for a user's balance, for `/api/me`.

Billing owns balances; auth only shows them. When billing cannot answer, the
profile is still served, with the balance as null, rather than failing.
"""

from __future__ import annotations

import logging
import uuid

import aiohttp

from shared.internal import TOKEN_HEADER

_log = logging.getLogger(__name__)


class BillingClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session = session
        self._base_url = base_url
        self._token = token

    async def balance(self, user_id: uuid.UUID) -> str | None:
        url = f"{self._base_url}/internal/balances/{user_id}"
        try:
            async with self._session.get(
                url,
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=2),
            ) as response:
                if response.status != 200:
                    _log.warning("billing balance lookup failed", extra={"status": response.status})
                    return None
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            _log.warning("billing unreachable for balance lookup")
            return None
        balance = body.get("balance") if isinstance(body, dict) else None
        return balance if isinstance(balance, str) else None
