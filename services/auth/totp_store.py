"""The SQL of two-factor sign-in: auth.totp and auth.recovery_codes.

Values arrive here already encrypted (the secret) or digested (recovery
codes); nothing in these tables is usable without the service's keys. Every
acceptance is one conditional statement, so two requests racing with the same
code cannot both win: a time step is accepted only when it is later than the
last one (`spend_step`), a recovery code only while it is unused
(`spend_recovery_code`), an enrolment is confirmed only while it is pending
and still holds the secret the code was checked against (`confirm`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class StoredTotp:
    secret_encrypted: bytes
    confirmed: bool
    last_used_step: int | None


async def enabled(db: Any, user_id: uuid.UUID) -> bool:
    """Whether the account has confirmed TOTP (a pending enrolment is not on)."""
    found = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM auth.totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
        user_id,
    )
    return bool(found)


async def load(db: Any, user_id: uuid.UUID) -> StoredTotp | None:
    row = await db.fetchrow(
        "SELECT secret_encrypted, confirmed_at IS NOT NULL AS confirmed, last_used_step "
        "FROM auth.totp WHERE user_id = $1",
        user_id,
    )
    if row is None:
        return None
    return StoredTotp(
        secret_encrypted=bytes(row["secret_encrypted"]),
        confirmed=row["confirmed"],
        last_used_step=row["last_used_step"],
    )


async def begin(db: Any, user_id: uuid.UUID, secret_encrypted: bytes) -> bool:
    """Store a pending enrolment, replacing a pending one; False when TOTP is already on."""
    row = await db.fetchrow(
        "INSERT INTO auth.totp (user_id, secret_encrypted) VALUES ($1, $2) "
        "ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted, "
        "created_at = now(), last_used_step = NULL WHERE auth.totp.confirmed_at IS NULL "
        "RETURNING user_id",
        user_id,
        secret_encrypted,
    )
    return row is not None


async def confirm(connection: Any, user_id: uuid.UUID, secret_encrypted: bytes, step: int) -> bool:
    """Turn the pending enrolment on with the step of its first code."""
    row = await connection.fetchrow(
        "UPDATE auth.totp SET confirmed_at = now(), last_used_step = $3 "
        "WHERE user_id = $1 AND confirmed_at IS NULL AND secret_encrypted = $2 "
        "AND (last_used_step IS NULL OR last_used_step < $3) RETURNING user_id",
        user_id,
        secret_encrypted,
        step,
    )
    return row is not None


async def spend_step(db: Any, user_id: uuid.UUID, step: int) -> bool:
    """Accept a code of `step` once: only a step later than every one accepted before."""
    row = await db.fetchrow(
        "UPDATE auth.totp SET last_used_step = $2 WHERE user_id = $1 "
        "AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2) "
        "RETURNING user_id",
        user_id,
        step,
    )
    return row is not None


async def replace_recovery_codes(
    connection: Any, user_id: uuid.UUID, code_hashes: Iterable[bytes]
) -> None:
    """The account's recovery codes become exactly these (call in a transaction)."""
    await connection.execute("DELETE FROM auth.recovery_codes WHERE user_id = $1", user_id)
    await connection.executemany(
        "INSERT INTO auth.recovery_codes (user_id, code_hash) VALUES ($1, $2)",
        [(user_id, code_hash) for code_hash in code_hashes],
    )


async def spend_recovery_code(db: Any, user_id: uuid.UUID, code_hash: bytes) -> bool:
    """Use a recovery code: True for exactly one caller, and only while TOTP is on."""
    row = await db.fetchrow(
        "UPDATE auth.recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 "
        "AND used_at IS NULL AND EXISTS (SELECT 1 FROM auth.totp t WHERE t.user_id = $1 "
        "AND t.confirmed_at IS NOT NULL) RETURNING id",
        user_id,
        code_hash,
    )
    return row is not None


async def unused_recovery_codes(db: Any, user_id: uuid.UUID) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM auth.recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        user_id,
    )
    return count


async def remove(connection: Any, user_id: uuid.UUID) -> bool:
    """Turn TOTP off: the secret and every recovery code go (call in a transaction)."""
    await connection.execute("DELETE FROM auth.recovery_codes WHERE user_id = $1", user_id)
    row = await connection.fetchrow(
        "DELETE FROM auth.totp WHERE user_id = $1 RETURNING confirmed_at IS NOT NULL AS was_on",
        user_id,
    )
    return row is not None and bool(row["was_on"])
