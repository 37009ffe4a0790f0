"""The auth schema's SQL for API keys.

Keys are found by their HMAC digest (unique index) and compared again in
constant time. Only metadata ever leaves this module: the digest is never
returned, and the secret itself never reaches it.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    models: list[str] | None
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def public(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": str(self.id),
            "name": self.name,
            "prefix": self.prefix,
            "models": self.models,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "expires_at": iso(self.expires_at),
        }


@dataclass(frozen=True, kw_only=True)
class VerifiedKey:
    key: ApiKey
    role: str
    email_verified: bool = True


_COLUMNS = "id, user_id, name, prefix, models, expires_at, created_at, last_used_at, revoked_at"
MAX_KEYS_PER_USER = 200


def _key(row: Any) -> ApiKey:
    return ApiKey(**{name: row[name] for name in _COLUMNS.split(", ")})


async def count_active(db: Any, user_id: uuid.UUID) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM auth.api_keys WHERE user_id = $1 AND revoked_at IS NULL", user_id
    )
    return count


async def create(
    db: Any,
    *,
    user_id: uuid.UUID,
    name: str,
    prefix: str,
    key_hash: bytes,
    models: list[str] | None,
    expires_at: datetime | None,
) -> ApiKey:
    row = await db.fetchrow(
        f"INSERT INTO auth.api_keys (user_id, name, prefix, key_hash, models, expires_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
        user_id,
        name,
        prefix,
        key_hash,
        models,
        expires_at,
    )
    return _key(row)


async def list_active(db: Any, user_id: uuid.UUID) -> list[ApiKey]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM auth.api_keys WHERE user_id = $1 AND revoked_at IS NULL "
        "ORDER BY created_at, id",
        user_id,
    )
    return [_key(row) for row in rows]


async def revoke(db: Any, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    status: str = await db.execute(
        "UPDATE auth.api_keys SET revoked_at = now() "
        "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        key_id,
        user_id,
    )
    return status.endswith(" 1")


async def verify(db: Any, key_hash: bytes) -> VerifiedKey | None:
    """The live key with this digest, its owner's role, and a fresh last-used time."""
    row = await db.fetchrow(
        "SELECT k.key_hash, u.role, u.email_verified_at IS NOT NULL AS email_verified, "
        f"{', '.join('k.' + c for c in _COLUMNS.split(', '))} "
        "FROM auth.api_keys k JOIN auth.users u ON u.id = k.user_id "
        "WHERE k.key_hash = $1 AND k.revoked_at IS NULL "
        "AND (k.expires_at IS NULL OR k.expires_at > now())",
        key_hash,
    )
    if row is None or not hmac.compare_digest(bytes(row["key_hash"]), key_hash):
        return None
    # At most one write a minute per key: the gateway caches, so this is rare anyway.
    await db.execute(
        "UPDATE auth.api_keys SET last_used_at = now() WHERE id = $1 "
        "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        row["id"],
    )
    return VerifiedKey(key=_key(row), role=row["role"], email_verified=row["email_verified"])


async def rotate(
    db: Any, user_id: uuid.UUID, key_id: uuid.UUID, *, prefix: str, key_hash: bytes
) -> ApiKey | None:
    """In one transaction: a new key like the old one, and the old one revoked."""
    async with db.acquire() as connection, connection.transaction():
        old = await connection.fetchrow(
            "SELECT name, models, expires_at FROM auth.api_keys "
            "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL FOR UPDATE",
            key_id,
            user_id,
        )
        if old is None:
            return None
        new = await create(
            connection,
            user_id=user_id,
            name=old["name"],
            prefix=prefix,
            key_hash=key_hash,
            models=old["models"],
            expires_at=old["expires_at"],
        )
        await connection.execute(
            "UPDATE auth.api_keys SET revoked_at = now(), rotated_to = $2 WHERE id = $1",
            key_id,
            new.id,
        )
    return new
