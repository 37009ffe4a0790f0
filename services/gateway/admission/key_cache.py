"""Resolving API keys to principals, cached in process, dropped on revocation.

A miss asks auth's internal verify endpoint. Entries live for a short time;
revocation does not wait for that: auth publishes the key id and the
subscriber drops it at once. While the subscription is down, revocations may
be missed, so nothing is cached then; the cache starts empty each time the
subscription is (re)made (`revocable_cache`).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from datetime import datetime

import aiohttp

from services.gateway.admission.principals import Principal
from services.gateway.admission.revocable_cache import RevocableCache
from shared import api_key_format
from shared.errors import Forbidden, ServiceUnavailable, Unauthorized
from shared.internal import TOKEN_HEADER

_log = logging.getLogger(__name__)


class KeyCache:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_url: str,
        internal_token: str,
        ttl_seconds: float,
    ) -> None:
        self._session = session
        self._url = f"{auth_url}/internal/keys/verify"
        self._token = internal_token
        self._cache: RevocableCache[bytes, Principal] = RevocableCache(ttl_seconds)

    async def principal(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode()).digest()
        principal = self._cache.get(digest)  # only well-formed keys were ever cached
        if principal is None:
            if not api_key_format.is_well_formed(key):
                raise Unauthorized("invalid API key")
            epoch = self._cache.epoch
            principal = await self._ask_auth(key)
            self._cache.put(digest, principal, epoch)
        if principal.expires_at is not None and principal.expires_at.timestamp() <= time.time():
            raise Unauthorized("API key expired")
        return principal

    def drop(self, key_id: uuid.UUID) -> None:
        self._cache.drop_where(lambda principal: principal.key_id == key_id)

    async def _ask_auth(self, key: str) -> Principal:
        try:
            async with self._session.post(
                self._url,
                json={"key": key},
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                if response.status == 401:
                    raise Unauthorized("invalid API key")
                if response.status == 403:  # the key is good, its owner may not use it yet
                    raise Forbidden(await _refusal(response))
                if response.status != 200:
                    raise ServiceUnavailable("key verification is unavailable; try again")
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceUnavailable("key verification is unavailable; try again") from exc
        expires = body.get("expires_at")
        models = body.get("models")
        return Principal(
            user_id=uuid.UUID(body["user_id"]),
            role=body["role"],
            via="api_key",
            key_id=uuid.UUID(body["key_id"]),
            models=tuple(models) if models is not None else None,
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )

    async def on_live(self, live: bool) -> None:
        """Cache only while revocation notices can reach us; start empty each time."""
        self._cache.on_live(live)

    async def on_revoked(self, notice: str) -> None:
        try:
            self.drop(uuid.UUID(notice))
        except ValueError:
            _log.warning("ignored a malformed revocation notice")


async def _refusal(response: aiohttp.ClientResponse) -> str:
    """Auth's message for a refused key (it says what to do: verify the email)."""
    try:
        body = await response.json()
        message = body["error"]["message"]
    except (aiohttp.ContentTypeError, ValueError, KeyError, TypeError):
        return "this API key may not be used"
    return message if isinstance(message, str) else "this API key may not be used"
