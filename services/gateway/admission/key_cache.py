"""Resolving API keys to principals, cached in process, dropped on revocation.

A miss asks auth's internal verify endpoint. Entries live for a short time;
revocation does not wait for that: auth publishes the key id and the
subscriber drops it at once. While the subscription is down, revocations may
be missed, so nothing is cached then; the cache starts empty each time the
subscription is (re)made (`revocable_cache`). Auth's answer carries the
key's admission policy (DESIGN 13: group, price multiplier, limits, IP
allowlist, budget), read by `policy_fields`.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from datetime import datetime
from typing import Any

import aiohttp

from services.gateway.admission.policy_fields import (
    allowlist_from,
    budget_from,
    group_from,
    limits_from,
    model_limits_from,
    multiplier_from,
)
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

    def drop_user(self, user_id: uuid.UUID) -> None:
        """Every key of the user: their suspension, group or limits changed."""
        self._cache.drop_where(lambda principal: principal.user_id == user_id)

    def drop_all(self) -> None:
        """A group changed: any cached principal may carry its old policy."""
        self._cache.drop_where(lambda principal: True)

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
                if response.status == 403:  # the key is good; its owner may not use it (now)
                    raise await _refusal(response)
                if response.status != 200:
                    raise ServiceUnavailable("key verification is unavailable; try again")
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceUnavailable("key verification is unavailable; try again") from exc
        try:
            return principal_from(body)
        except (KeyError, TypeError, ValueError) as exc:
            _log.error("auth's key verification answer is malformed", extra={"reason": str(exc)})
            raise ServiceUnavailable("key verification is unavailable; try again") from exc

    async def on_live(self, live: bool) -> None:
        """Cache only while revocation notices can reach us; start empty each time."""
        self._cache.on_live(live)

    async def on_revoked(self, notice: str) -> None:
        try:
            self.drop(uuid.UUID(notice))
        except ValueError:
            _log.warning("ignored a malformed revocation notice")

    async def on_user_credentials_changed(self, notice: str) -> None:
        """A user was suspended (or lifted), moved to another group, or their limits
        changed: their keys are verified again at their next request."""
        try:
            self.drop_user(uuid.UUID(notice))
        except ValueError:
            _log.warning("ignored a malformed credentials notice")

    async def on_groups_changed(self, notice: str) -> None:
        """The notice names the group, but a principal's group is only as fresh as
        its entry (a member may have moved since): everything is verified again."""
        self.drop_all()


def principal_from(body: Any) -> Principal:
    """A key's principal from auth's verify answer, its admission policy included
    (`policy_fields`: missing fields read as no policy, malformed ones raise)."""
    expires = body.get("expires_at")
    models = body.get("models")
    limits = body.get("limits") or {}
    if not isinstance(limits, dict):
        raise ValueError("limits must be an object")
    return Principal(
        user_id=uuid.UUID(body["user_id"]),
        role=body["role"],
        via="api_key",
        key_id=uuid.UUID(body["key_id"]),
        models=tuple(models) if models is not None else None,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        group=group_from(body.get("group")),
        price_multiplier=multiplier_from(body.get("price_multiplier")),
        user_limits=limits_from(limits.get("user")),
        key_limits=limits_from(limits.get("key")),
        model_limits=model_limits_from(limits.get("models")),
        ip_allowlist=allowlist_from(body.get("ip_allowlist")),
        budget=budget_from(body.get("budget")),
    )


class AccountSuspended(Forbidden):
    code = "account_suspended"


class KeySuspended(Forbidden):
    code = "key_suspended"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"


# Auth's refusals of a good key, passed on with their code (the client's format
# carries it): a suspended account or key, an address not yet verified.
_REFUSALS: dict[str, type[Forbidden]] = {
    refusal.code: refusal for refusal in (AccountSuspended, KeySuspended, EmailNotVerified)
}
_REFUSED = "this API key may not be used"


async def _refusal(response: aiohttp.ClientResponse) -> Forbidden:
    """Auth's refusal of a key, with its message (it says why and what to do: the
    suspension's reason, verify the email) and its code when it is one of `_REFUSALS`."""
    try:
        error = (await response.json())["error"]
        message, code = error["message"], error.get("code")
    except (aiohttp.ContentTypeError, ValueError, KeyError, TypeError, AttributeError):
        return Forbidden(_REFUSED)
    if not isinstance(message, str):
        return Forbidden(_REFUSED)
    return _REFUSALS.get(code, Forbidden)(message) if isinstance(code, str) else Forbidden(message)
