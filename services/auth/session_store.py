"""The auth schema's SQL for browser sessions.

A session is found by the SHA-256 of its cookie value (unique index) and
compared again in constant time; the value itself never reaches this module.
A live session is unrevoked, before its absolute expiry, used within the idle
limit, and of the user's current token generation. Every query on one user's
sessions filters by that user's id, so another user's session id finds nothing.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import Unauthorized

# Ended sessions (revoked, or past their absolute expiry) are listed nowhere
# but kept this long (the owner's security log names them); each new session
# deletes a batch of older ones (migration 0008 indexes when they ended).
_KEEP_ENDED = "30 days"
_DELETE_BATCH = 100


@dataclass(frozen=True, kw_only=True)
class Session:
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    absolute_expires_at: datetime
    ip: str | None
    user_agent: str | None

    def public(self, *, current: uuid.UUID | None = None) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat(),
            "expires_at": self.absolute_expires_at.isoformat(),
            "ip": self.ip,
            "user_agent": self.user_agent,
            "current": self.id == current,
        }


@dataclass(frozen=True, kw_only=True)
class VerifiedSession:
    session: Session
    role: str
    suspended_reason: str | None = None
    suspended: bool = False


_COLUMNS = (
    "s.id, s.user_id, s.created_at, s.last_used_at, s.absolute_expires_at, "
    "host(s.ip) AS ip, s.user_agent"
)
_LIVE = (
    "s.revoked_at IS NULL AND s.absolute_expires_at > now() "
    "AND s.last_used_at > now() - make_interval(secs => $2) "
    "AND s.generation >= u.token_generation"
)


def _session(row: Any) -> Session:
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        absolute_expires_at=row["absolute_expires_at"],
        ip=row["ip"],
        user_agent=row["user_agent"],
    )


async def create(
    db: Any,
    *,
    user_id: uuid.UUID,
    token_hash: bytes,
    absolute_seconds: int,
    ip: str | None,
    user_agent: str | None,
) -> Session:
    """A new session of the user's current token generation."""
    async with db.acquire() as connection, connection.transaction():
        await connection.execute(
            "DELETE FROM auth.sessions WHERE id IN (SELECT id FROM auth.sessions "
            f"WHERE coalesce(revoked_at, absolute_expires_at) < now() - interval '{_KEEP_ENDED}' "
            f"LIMIT {_DELETE_BATCH})"
        )
        row = await connection.fetchrow(
            "INSERT INTO auth.sessions AS s "
            "(user_id, token_hash, generation, absolute_expires_at, ip, user_agent) "
            "SELECT u.id, $2, u.token_generation, now() + make_interval(secs => $3), "
            "$4::inet, $5 FROM auth.users u WHERE u.id = $1 "
            f"RETURNING {_COLUMNS}",
            user_id,
            token_hash,
            absolute_seconds,
            ip,
            user_agent,
        )
    if row is None:  # the account was deleted while it signed in
        raise Unauthorized("the account no longer exists")
    return _session(row)


async def verify(db: Any, token_hash: bytes, idle_seconds: int) -> VerifiedSession | None:
    """The live session with this digest, its owner's role, and a fresh last use."""
    row = await db.fetchrow(
        f"SELECT s.token_hash, u.role, u.suspended_at, u.suspended_reason, {_COLUMNS} "
        "FROM auth.sessions s "
        f"JOIN auth.users u ON u.id = s.user_id WHERE s.token_hash = $1 AND {_LIVE}",
        token_hash,
        idle_seconds,
    )
    if row is None or not hmac.compare_digest(bytes(row["token_hash"]), token_hash):
        return None
    # At most one write a minute per session: the gateway caches between verifies.
    await db.execute(
        "UPDATE auth.sessions SET last_used_at = now() WHERE id = $1 "
        "AND last_used_at < now() - interval '1 minute'",
        row["id"],
    )
    return VerifiedSession(
        session=_session(row),
        role=row["role"],
        suspended=row["suspended_at"] is not None,
        suspended_reason=row["suspended_reason"],
    )


async def list_live(db: Any, user_id: uuid.UUID, idle_seconds: int) -> list[Session]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id "
        f"WHERE s.user_id = $1 AND {_LIVE} ORDER BY s.last_used_at DESC, s.id",
        user_id,
        idle_seconds,
    )
    return [_session(row) for row in rows]


async def revoke(db: Any, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    status: str = await db.execute(
        "UPDATE auth.sessions SET revoked_at = now() "
        "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        session_id,
        user_id,
    )
    return status.endswith(" 1")


async def revoke_by_id(db: Any, session_id: uuid.UUID) -> bool:
    """End the session a request came with, whoever it belongs to (its holder
    may end it: rotation at a sign-in)."""
    status: str = await db.execute(
        "UPDATE auth.sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        session_id,
    )
    return status.endswith(" 1")


async def revoke_all(
    db: Any, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """End every session of the user but `keep`; the ids ended."""
    rows = await db.fetch(
        "UPDATE auth.sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL "
        "AND id IS DISTINCT FROM $2 RETURNING id",
        user_id,
        keep,
    )
    return [row["id"] for row in rows]
