"""Verifying JWTs locally with auth's published JWKS.

The algorithm list is fixed (EdDSA): `alg: none` and HMAC tokens signed with
a public key are refused by construction. `exp`, `iat`, `iss`, `aud` and `sub`
are required. An unknown `kid` triggers one JWKS refresh (at most every few
seconds, so a flood of forged kids cannot hammer auth) and is refused if still
unknown. A token whose generation (`gen`, absent = 0) is older than its
user's current one (`user_generations`) was issued before a password or email
change: 401 "token revoked, sign in again".
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import aiohttp
import jwt

from services.gateway.admission.principals import Principal
from services.gateway.admission.user_generations import UserGenerations
from shared.errors import Unauthorized
from shared.internal import TOKEN_HEADER

ALGORITHMS = ["EdDSA"]
AUDIENCE = "tollgate-api"
REFRESH_MIN_INTERVAL = 5.0
_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]
_log = logging.getLogger(__name__)


class Jwks:
    """The public keys auth signs with, refreshed when an unknown kid appears."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_url: str,
        internal_token: str,
        issuer: str,
        generations: UserGenerations | None = None,
    ) -> None:
        self._session = session
        self._generations = generations
        self._url = f"{auth_url}/api/auth/jwks"
        self._token = internal_token
        self._issuer = issuer
        self._keys: dict[str, Any] = {}
        self._refreshed_at = 0.0
        self._lock = asyncio.Lock()

    async def on_keys_changed(self, _kid: str) -> None:
        """Auth announced a new signing key: fetch the JWKS now, whatever the
        unknown-kid window says, so the new key's tokens are never refused."""
        await self.refresh(force=True)

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            recent = time.monotonic() - self._refreshed_at < REFRESH_MIN_INTERVAL
            if recent and self._keys and not force:
                return
            self._refreshed_at = time.monotonic()
            try:
                async with self._session.get(
                    self._url,
                    headers={TOKEN_HEADER: self._token},
                    timeout=aiohttp.ClientTimeout(total=3),
                ) as response:
                    response.raise_for_status()
                    document = await response.json()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                _log.warning("JWKS refresh failed", extra={"reason": str(exc)})
                return
            self._keys = {
                jwk["kid"]: jwt.PyJWK(jwk).key
                for jwk in document.get("keys", [])
                if jwk.get("alg") in ALGORITHMS and "kid" in jwk
            }

    async def _key_for(self, kid: str) -> Any:
        if kid not in self._keys:
            await self.refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("invalid token")
        return key

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("invalid token") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in ALGORITHMS:
            raise Unauthorized("invalid token")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=AUDIENCE,
                issuer=self._issuer,
                options={"require": _REQUIRED},
            )
            user_id = uuid.UUID(claims["sub"])
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthorized("invalid token") from None
        generation = claims.get("gen", 0)
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise Unauthorized("invalid token")
        if self._generations is not None:
            await self._generations.check(user_id, generation)
        role = claims.get("role")
        return Principal(user_id=user_id, role=role if role == "admin" else "user", via="jwt")
