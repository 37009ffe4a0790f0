"""Asking auth whether a user exists: billing knows users only by id.

Billing opens an account for any user id on first use, which is right for
usage events (the gateway only emits them for users it authenticated) and
wrong for an admin's credit: a mistyped id would get a balance nobody owns.
So a credit first asks auth, which owns the users (DESIGN.md §1: billing
never reads auth's schema), at its internal `GET /internal/users/{id}`.

Fail closed: when auth does not answer, or answers anything but 200 or 404,
the credit is refused with 503 (`ServiceUnavailable`), never granted to an
id nobody checked.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from shared.errors import ServiceUnavailable
from shared.internal import TOKEN_HEADER

_log = logging.getLogger(__name__)
_UNAVAILABLE = "the auth service is unavailable; no credit was made"


class UserDirectory:
    def __init__(self, session: aiohttp.ClientSession, auth_url: str, token: str) -> None:
        self._session = session
        self._auth_url = auth_url
        self._token = token

    async def exists(self, user_id: uuid.UUID) -> bool:
        """Whether auth knows `user_id`; `ServiceUnavailable` when it cannot say."""
        url = f"{self._auth_url}/internal/users/{user_id}"
        try:
            async with self._session.get(
                url, headers={TOKEN_HEADER: self._token}, timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                if response.status in (200, 404):
                    return response.status == 200
                _log.warning("auth user lookup failed", extra={"status": response.status})
        except (aiohttp.ClientError, TimeoutError) as exc:
            _log.warning("auth unreachable for a user lookup")
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        raise ServiceUnavailable(_UNAVAILABLE)

    async def contact(self, user_id: uuid.UUID) -> Contact | None:
        """Where and how to mail the user (auth's `/internal/users/{id}/contact`),
        None when auth has no such user; `ServiceUnavailable` when it cannot say."""
        url = f"{self._auth_url}/internal/users/{user_id}/contact"
        try:
            async with self._session.get(
                url, headers={TOKEN_HEADER: self._token}, timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                if response.status == 404:
                    return None
                if response.status == 200:
                    body = await response.json()
                    return Contact(
                        email=str(body["email"]),
                        name=str(body["name"]),
                        language=str(body["language"]),
                    )
                _log.warning("auth contact lookup failed", extra={"status": response.status})
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            _log.warning("auth unreachable for a contact lookup")
            raise ServiceUnavailable("the auth service is unavailable") from exc
        raise ServiceUnavailable("the auth service is unavailable")


@dataclass(frozen=True, kw_only=True)
class Contact:
    """A user's address, name and mail language, as auth has them now."""

    email: str
    name: str
    language: str


USER_DIRECTORY = web.AppKey("user_directory", UserDirectory)


def directory(auth_url: str, token: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context that keeps a `UserDirectory` under `USER_DIRECTORY`."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[USER_DIRECTORY] = UserDirectory(session, auth_url, token)
            yield

    return context
