"""The auth schema's SQL for API keys.

Keys are found by their HMAC digest (unique index) and compared again in
constant time. Only metadata ever leaves this module: the digest is never
returned, and the secret itself never reaches it.
"""

from __future__ import annotations

import hmac
import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.auth import key_suspension

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    # The key's admission policy (docs/admission.md): None is "no restriction".
    ip_allowlist: list[Network] | None = None
    budget_usd: Decimal | None = None
    budget_period: str | None = None  # 'day', 'month' or 'total', set with budget_usd
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    # Per-model limits: a model name as the client sends it -> its set limits.
    model_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    # Suspended on its own (billing's spend anomaly; `key_suspension`): refused
    # with 403 key_suspended until its owner resumes it.
    suspended_at: datetime | None = None
    suspended_reason: str | None = None

    def budget(self) -> dict[str, str] | None:
        if self.budget_usd is None or self.budget_period is None:
            return None
        return {"usd": decimal_text(self.budget_usd), "period": self.budget_period}

    def limits(self) -> dict[str, int | None]:
        return {"rpm": self.rpm, "tpm": self.tpm, "concurrency": self.concurrency}

    def allowlist(self) -> list[str] | None:
        return None if self.ip_allowlist is None else [str(n) for n in self.ip_allowlist]

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
            "ip_allowlist": self.allowlist(),
            "budget": self.budget(),
            "limits": {**self.limits(), "models": self.model_limits},
            "suspended_at": iso(self.suspended_at),
            "suspended_reason": self.suspended_reason,
        }


@dataclass(frozen=True, kw_only=True)
class VerifiedKey:
    """A live key and what admission needs of its owner: the role, the group and
    its multiplier, the user's limits (their own, else the group's, per field)
    and whether the account is suspended."""

    key: ApiKey
    role: str
    email_verified: bool = True
    group: str = "default"
    price_multiplier: Decimal = field(default=Decimal(1))
    user_limits: dict[str, int | None] = field(default_factory=dict)
    suspended: bool = False
    suspended_reason: str | None = None


def decimal_text(value: Decimal) -> str:
    """A decimal as plain text without trailing zeros: '1.5', '0.01', '2'."""
    return format(value.normalize(), "f")


_COLUMNS = (
    "id, user_id, name, prefix, models, expires_at, created_at, last_used_at, revoked_at, "
    "ip_allowlist, budget_usd, budget_period, rpm, tpm, concurrency, model_limits, "
    "suspended_at, suspended_reason"
)
MAX_KEYS_PER_USER = 200
# A user's effective limit: their own, else their group's default (per field).
USER_LIMITS_SQL = (
    "coalesce(u.rpm, g.rpm) AS user_rpm, coalesce(u.tpm, g.tpm) AS user_tpm, "
    "coalesce(u.concurrency, g.concurrency) AS user_concurrency"
)


def _key(row: Any) -> ApiKey:
    return ApiKey(**{name: row[name] for name in _COLUMNS.split(", ")})


def user_limits(row: Any) -> dict[str, int | None]:
    """The user's effective limits from a row selected with `USER_LIMITS_SQL`."""
    return {
        "rpm": row["user_rpm"],
        "tpm": row["user_tpm"],
        "concurrency": row["user_concurrency"],
    }


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


# The columns `update` may write; the handler's fixed set, never the client's names.
UPDATABLE = frozenset(
    {
        "name",
        "models",
        "expires_at",
        "ip_allowlist",
        "budget_usd",
        "budget_period",
        "rpm",
        "tpm",
        "concurrency",
        "model_limits",
    }
)


async def update(
    db: Any, user_id: uuid.UUID, key_id: uuid.UUID, changes: dict[str, Any]
) -> ApiKey | None:
    """Write `changes` (columns of `UPDATABLE`) to the user's live key in one
    statement; the key as it now is, or None when it is not theirs or not live."""
    assert set(changes) <= UPDATABLE
    columns = sorted(changes)
    assignments = "".join(f", {name} = ${i}" for i, name in enumerate(columns, start=3))
    row = await db.fetchrow(
        f"UPDATE auth.api_keys SET id = id{assignments} "
        "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL "
        f"RETURNING {_COLUMNS}",
        key_id,
        user_id,
        *(changes[name] for name in columns),
    )
    return None if row is None else _key(row)


async def revoke(db: Any, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    status: str = await db.execute(
        "UPDATE auth.api_keys SET revoked_at = now() "
        "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        key_id,
        user_id,
    )
    return status.endswith(" 1")


async def verify(db: Any, key_hash: bytes) -> VerifiedKey | None:
    """The live key with this digest, its owner's role, group, limits and
    suspension, and a fresh last-used time; a suspended key (not its owner:
    that is the caller's check) raises `key_suspension.KeySuspended`."""
    row = await db.fetchrow(
        "SELECT k.key_hash, u.role, u.email_verified_at IS NOT NULL AS email_verified, "
        "u.group_name, g.price_multiplier, "
        "u.suspended_at AS owner_suspended_at, u.suspended_reason AS owner_suspended_reason, "
        f"{USER_LIMITS_SQL}, "
        f"{', '.join('k.' + c for c in _COLUMNS.split(', '))} "
        "FROM auth.api_keys k JOIN auth.users u ON u.id = k.user_id "
        "JOIN auth.groups g ON g.name = u.group_name "
        "WHERE k.key_hash = $1 AND k.revoked_at IS NULL "
        "AND (k.expires_at IS NULL OR k.expires_at > now())",
        key_hash,
    )
    if row is None or not hmac.compare_digest(bytes(row["key_hash"]), key_hash):
        return None
    key_suspension.refuse(row["suspended_at"], row["suspended_reason"])  # the key's own
    # At most one write a minute per key: the gateway caches, so this is rare anyway.
    await db.execute(
        "UPDATE auth.api_keys SET last_used_at = now() WHERE id = $1 "
        "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        row["id"],
    )
    return VerifiedKey(
        key=_key(row),
        role=row["role"],
        email_verified=row["email_verified"],
        group=row["group_name"],
        price_multiplier=row["price_multiplier"],
        user_limits=user_limits(row),
        suspended=row["owner_suspended_at"] is not None,
        suspended_reason=row["owner_suspended_reason"],
    )


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
        # The new key keeps the old one's policy: allowlist, budget and limits.
        row = await connection.fetchrow(
            "UPDATE auth.api_keys n SET ip_allowlist = o.ip_allowlist, "
            "budget_usd = o.budget_usd, budget_period = o.budget_period, "
            "rpm = o.rpm, tpm = o.tpm, concurrency = o.concurrency, "
            "model_limits = o.model_limits "
            f"FROM auth.api_keys o WHERE n.id = $1 AND o.id = $2 "
            f"RETURNING {', '.join('n.' + c for c in _COLUMNS.split(', '))}",
            new.id,
            key_id,
        )
        await connection.execute(
            "UPDATE auth.api_keys SET revoked_at = now(), rotated_to = $2 WHERE id = $1",
            key_id,
            new.id,
        )
    return _key(row)
