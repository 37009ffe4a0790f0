"""Each user's token generation, so a JWT issued before a password or email
change is refused on every gateway within a second.

A JWT carries the generation it was issued at (claim `gen`, absent = 0). A
token older than the user's current generation is refused with 401 "token
revoked, sign in again". The current generation comes from auth's internal
`GET /internal/users/{id}` and is cached per user for a short time; auth
publishes the user id on `USER_CREDENTIALS_CHANGED` after every change, and
the entry is dropped at once. While that feed is down a notice may be
missed, so nothing is cached then (every JWT request asks auth), and a
lookup racing a drop never puts the old generation back (`revocable_cache`).
"""

from __future__ import annotations

import logging
import uuid

import aiohttp

from services.gateway.admission.revocable_cache import RevocableCache
from shared.errors import ServiceUnavailable, Unauthorized
from shared.internal import TOKEN_HEADER

_log = logging.getLogger(__name__)
REVOKED = "token revoked, sign in again"


class UserGenerations:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_url: str,
        internal_token: str,
        ttl_seconds: float,
    ) -> None:
        self._session = session
        self._url = f"{auth_url}/internal/users/"
        self._token = internal_token
        self._cache: RevocableCache[uuid.UUID, int] = RevocableCache(ttl_seconds)

    @property
    def live(self) -> bool:
        """Whether change notices reach this process (then answers are cached)."""
        return self._cache.live

    async def check(self, user_id: uuid.UUID, generation: int) -> None:
        """Raise 401 unless a token at `generation` is still good for the user."""
        if generation < await self.current(user_id):
            raise Unauthorized(REVOKED)

    async def current(self, user_id: uuid.UUID) -> int:
        """The user's generation; 401 when the user no longer exists."""
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        epoch = self._cache.epoch
        generation = await self._ask_auth(user_id)
        self._cache.put(user_id, generation, epoch)
        return generation

    async def _ask_auth(self, user_id: uuid.UUID) -> int:
        try:
            async with self._session.get(
                f"{self._url}{user_id}",
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                if response.status == 404:
                    raise Unauthorized("invalid token")
                if response.status != 200:
                    raise ServiceUnavailable("token verification is unavailable; try again")
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceUnavailable("token verification is unavailable; try again") from exc
        generation = body.get("token_generation", 0)
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise ServiceUnavailable("token verification is unavailable; try again")
        return generation

    def drop(self, user_id: uuid.UUID) -> None:
        self._cache.drop(user_id)

    async def on_live(self, live: bool) -> None:
        """Cache only while change notices can reach us; start empty each time."""
        self._cache.on_live(live)

    async def on_changed(self, notice: str) -> None:
        try:
            self.drop(uuid.UUID(notice))
        except ValueError:
            _log.warning("ignored a malformed user credentials notice")
