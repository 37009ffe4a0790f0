"""Resolving browser session cookies to principals, cached in process.

A miss asks auth's internal verify endpoint (which refreshes the session's
last use); an entry is trusted for `ttl_seconds` at most, so idle expiry and
last use stay close to the truth, and never past the session's absolute
expiry. Revocation does not wait for that: auth publishes the session id (one
session ended) or the user id (a password, email or role change voided all of
the user's), and the subscriber drops the entries at once. While the
subscription is down nothing is cached; the cache starts empty each time the
subscription is (re)made. An answer that was in flight while a drop happened
is used once but not cached, so a revocation racing a verify cannot be
outlived by a stale entry.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

import aiohttp

from services.gateway.admission.principals import Principal
from services.gateway.admission.revocable_cache import RevocableCache
from shared import session_cookie
from shared.errors import ServiceUnavailable, Unauthorized
from shared.internal import TOKEN_HEADER

_log = logging.getLogger(__name__)
_UNAVAILABLE = "session verification is unavailable; try again"


class SessionCache:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_url: str,
        internal_token: str,
        ttl_seconds: float,
    ) -> None:
        self._session = session
        self._url = f"{auth_url}/internal/sessions/verify"
        self._token = internal_token
        self._cache: RevocableCache[bytes, Principal] = RevocableCache(ttl_seconds)

    async def principal(self, value: str) -> Principal:
        if not session_cookie.is_well_formed(value):
            raise Unauthorized("invalid session; sign in again")
        digest = session_cookie.digest(value)
        principal = self._cache.get(digest)
        if principal is None:
            epoch = self._cache.epoch
            principal = await self._ask_auth(value)
            self._cache.put(digest, principal, epoch)
        if principal.expires_at is not None and principal.expires_at.timestamp() <= time.time():
            raise Unauthorized("the session has ended; sign in again")
        return principal

    def drop_session(self, session_id: uuid.UUID) -> None:
        self._cache.drop_where(lambda principal: principal.session_id == session_id)

    def drop_user(self, user_id: uuid.UUID) -> None:
        self._cache.drop_where(lambda principal: principal.user_id == user_id)

    async def _ask_auth(self, value: str) -> Principal:
        try:
            async with self._session.post(
                self._url,
                json={"session": value},
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                if response.status == 401:
                    raise Unauthorized("the session has ended; sign in again")
                if response.status != 200:
                    raise ServiceUnavailable(_UNAVAILABLE)
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        role = body["role"]
        return Principal(
            user_id=uuid.UUID(body["user_id"]),
            role=role if role == "admin" else "user",
            via="session",
            session_id=uuid.UUID(body["session_id"]),
            expires_at=datetime.fromisoformat(body["expires_at"]),
        )

    async def on_live(self, live: bool) -> None:
        """Cache only while revocation notices can reach us; start empty each time."""
        self._cache.on_live(live)

    async def on_session_revoked(self, notice: str) -> None:
        try:
            self.drop_session(uuid.UUID(notice))
        except ValueError:
            _log.warning("ignored a malformed session revocation notice")

    async def on_user_credentials_changed(self, notice: str) -> None:
        try:
            self.drop_user(uuid.UUID(notice))
        except ValueError:
            _log.warning("ignored a malformed credentials notice")
