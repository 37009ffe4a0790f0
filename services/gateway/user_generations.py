"""Each user's token generation, so a JWT issued before a password or email
change is refused on every gateway within a second.

A JWT carries the generation it was issued at (claim `gen`, absent = 0). A
token older than the user's current generation is refused with 401 "token
revoked, sign in again". The current generation comes from auth's internal
`GET /internal/users/{id}` and is cached per user for a short time; auth
publishes the user id on `USER_CREDENTIALS_CHANGED` after every change, and
the entry is dropped at once. While that feed is down a notice may be
missed, so nothing is cached then (every JWT request asks auth), and the
cache starts empty each time the feed is (re)made, as `key_cache` does.

A lookup that started before a drop must not put the old generation back
after it: every drop and feed change moves an epoch, and an answer is
cached only if the epoch did not move while it was being fetched.
"""

from __future__ import annotations

import logging
import time
import uuid

import aiohttp

from shared.errors import ServiceUnavailable, Unauthorized
from shared.internal import TOKEN_HEADER

_log = logging.getLogger(__name__)
_MAX_ENTRIES = 100_000
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
        self._ttl = ttl_seconds
        self._entries: dict[uuid.UUID, tuple[int, float]] = {}
        self._subscribed = False
        self._epoch = 0

    @property
    def live(self) -> bool:
        """Whether change notices reach this process (then answers are cached)."""
        return self._subscribed

    async def check(self, user_id: uuid.UUID, generation: int) -> None:
        """Raise 401 unless a token at `generation` is still good for the user."""
        if generation < await self.current(user_id):
            raise Unauthorized(REVOKED)

    async def current(self, user_id: uuid.UUID) -> int:
        """The user's generation; 401 when the user no longer exists."""
        now = time.monotonic()
        cached = self._entries.get(user_id)
        if cached is not None and cached[1] > now and self._subscribed:
            return cached[0]
        epoch = self._epoch
        generation = await self._ask_auth(user_id)
        if self._subscribed and epoch == self._epoch:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[user_id] = (generation, now + self._ttl)
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
        self._epoch += 1
        self._entries.pop(user_id, None)

    async def on_live(self, live: bool) -> None:
        """Cache only while change notices can reach us; start empty each time."""
        self._epoch += 1
        self._entries.clear()
        self._subscribed = live

    async def on_changed(self, notice: str) -> None:
        try:
            self.drop(uuid.UUID(notice))
        except ValueError:
            _log.warning("ignored a malformed user credentials notice")
