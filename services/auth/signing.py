"""JWT signing keys: Ed25519, stored encrypted, rotatable, published as JWKS.

The newest unretired key signs. Rotation adds a key and retires the previous
one; a retired key stays in the JWKS for one token lifetime (plus a minute of
clock skew) so tokens it signed remain valid until they expire. Private keys
are Fernet-encrypted with the service's key set before they touch the table.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.fernet import InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.settings import SettingsError

ALGORITHM = "EdDSA"
CLOCK_SKEW_SECONDS = 60
_CREATE_LOCK = 0x6B_65_79_73


@dataclass(frozen=True, kw_only=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


def public_jwk(kid: str, private_key: Ed25519PrivateKey) -> dict[str, str]:
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": jwt.utils.base64url_encode(raw).decode(),
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    }


def issue_token(
    key: SigningKey,
    *,
    user_id: uuid.UUID,
    role: str,
    issuer: str,
    audience: str,
    ttl_seconds: int,
    generation: int = 0,
    now: int | None = None,
) -> str:
    """A JWT for the user; `gen` is the user's token generation, so the gateway
    refuses it once the password or email changes (services/auth/credentials.py)."""
    issued = int(time.time()) if now is None else now
    claims = {
        "sub": str(user_id),
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": secrets.token_urlsafe(12),
        "gen": generation,
    }
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


class SigningKeys:
    """The signing-key table, seen through the service's encryption key set."""

    def __init__(self, db: Any, fernet: MultiFernet, token_ttl_seconds: int) -> None:
        self._db = db
        self._fernet = fernet
        self._ttl = token_ttl_seconds
        self._decrypted: dict[str, Ed25519PrivateKey] = {}

    async def current(self) -> SigningKey:
        """The newest unretired key; one is created when there is none."""
        row = await self._db.fetchrow(
            "SELECT kid, private_key_encrypted FROM auth.signing_keys "
            "WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1"
        )
        if row is None:
            return await self.rotate(only_if_none=True)
        return SigningKey(kid=row["kid"], private_key=self._decrypt(row["kid"], row[1]))

    async def rotate(self, *, only_if_none: bool = False) -> SigningKey:
        """Add a new signing key and retire the others."""
        private_key = Ed25519PrivateKey.generate()
        kid = time.strftime("%Y%m%d") + "-" + secrets.token_hex(4)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        async with self._db.acquire() as connection, connection.transaction():
            # Two auth processes starting on an empty table must not both add a key.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _CREATE_LOCK)
            if only_if_none:
                row = await connection.fetchrow(
                    "SELECT kid, private_key_encrypted FROM auth.signing_keys "
                    "WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1"
                )
                if row is not None:
                    return SigningKey(kid=row["kid"], private_key=self._decrypt(row["kid"], row[1]))
            await connection.execute(
                "UPDATE auth.signing_keys SET retired_at = now() WHERE retired_at IS NULL"
            )
            await connection.execute(
                "INSERT INTO auth.signing_keys (kid, algorithm, private_key_encrypted, public_jwk) "
                "VALUES ($1, $2, $3, $4)",
                kid,
                ALGORITHM,
                self._fernet.encrypt(pem),
                public_jwk(kid, private_key),
            )
        return SigningKey(kid=kid, private_key=private_key)

    async def jwks(self) -> dict[str, list[dict[str, str]]]:
        rows = await self._db.fetch(
            "SELECT public_jwk FROM auth.signing_keys WHERE retired_at IS NULL "
            "OR retired_at > now() - make_interval(secs => $1) ORDER BY created_at DESC",
            float(self._ttl + CLOCK_SKEW_SECONDS),
        )
        return {"keys": [row["public_jwk"] for row in rows]}

    def _decrypt(self, kid: str, encrypted: bytes) -> Ed25519PrivateKey:
        cached = self._decrypted.get(kid)
        if cached is None:
            try:
                pem = self._fernet.decrypt(encrypted)
            except InvalidToken:
                raise SettingsError(
                    f"signing key {kid} cannot be decrypted with TOLLGATE_SECRET_KEYS; "
                    "when rotating the key set, keep the old key after the new one"
                ) from None
            loaded = serialization.load_pem_private_key(pem, None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"signing key {kid} is not an Ed25519 key")
            cached = self._decrypted[kid] = loaded
        return cached
