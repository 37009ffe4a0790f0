"""Mailed account tokens: email verification, password reset, email change,
sign-in links.

A token is 256 random bits (URL-safe text) handed out once, in a mail; the
table keeps only its SHA-256, so a copy of the database opens nothing. A
token serves one purpose, once: `consume` marks it used in the same
statement that finds it, so two clicks racing each other get one success.
It expires (`LIFETIMES`) and it is bound to the user's token generation when
it was issued: a password change, a reset or an email change bumps the
generation, which voids every token still pending (a reset link mailed
before the password changed, a change to an address an intruder chose).
A sign-in link also keeps whether its login asked for a browser session.

Every query takes the caller's connection, so issuing a token commits with
the mail that carries it, and consuming one commits with what it changes.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

Purpose = Literal["verify_email", "password_reset", "email_change", "sign_in_link"]

LIFETIMES: dict[Purpose, timedelta] = {
    "verify_email": timedelta(hours=24),
    "password_reset": timedelta(minutes=30),
    "email_change": timedelta(hours=24),
    "sign_in_link": timedelta(minutes=15),
}
TOKEN_MAX_LENGTH = 128  # what a request may carry; a real token is 43 characters


@dataclass(frozen=True, kw_only=True)
class Redeemed:
    """What a consumed token stood for."""

    user_id: uuid.UUID
    new_email: str | None
    session: bool | None = None  # a sign-in link's: a browser session, else a JWT


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue(
    connection: Any,
    purpose: Purpose,
    user_id: uuid.UUID,
    *,
    new_email: str | None = None,
    session: bool | None = None,
) -> str:
    """A new token for `user_id` at the user's current generation; the clear token,
    to be put in a mail and nowhere else. `session` is a sign-in link's only."""
    token = secrets.token_urlsafe(32)
    await connection.execute(
        "INSERT INTO auth.account_tokens "
        "(purpose, token_hash, user_id, generation, new_email, session, expires_at) "
        "SELECT $1, $2, id, token_generation, $3, $4, now() + make_interval(secs => $5) "
        "FROM auth.users WHERE id = $6",
        purpose,
        digest(token),
        new_email,
        session,
        LIFETIMES[purpose].total_seconds(),
        user_id,
    )
    return token


_LIVE = (
    "t.token_hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > now() "
    "AND t.generation = u.token_generation AND u.id = t.user_id"
)


async def peek(connection: Any, purpose: Purpose, token: str) -> Redeemed | None:
    """The live token's owner without using it (to check a new password first)."""
    row = await connection.fetchrow(
        "SELECT t.user_id, t.new_email, t.session FROM auth.account_tokens t, auth.users u "
        f"WHERE {_LIVE}",
        digest(token),
        purpose,
    )
    return None if row is None else _redeemed(row)


async def consume(connection: Any, purpose: Purpose, token: str) -> Redeemed | None:
    """Use the token: its owner, or None when it is unknown, used, expired or void.
    The user's row is locked until the caller's transaction ends."""
    row = await connection.fetchrow(
        f"UPDATE auth.account_tokens t SET used_at = now() FROM auth.users u WHERE {_LIVE} "
        "RETURNING t.user_id, t.new_email, t.session",
        digest(token),
        purpose,
    )
    if row is None:
        return None
    await connection.execute("SELECT 1 FROM auth.users WHERE id = $1 FOR UPDATE", row["user_id"])
    return _redeemed(row)


def _redeemed(row: Any) -> Redeemed:
    return Redeemed(user_id=row["user_id"], new_email=row["new_email"], session=row["session"])


async def use_all(connection: Any, purpose: Purpose, user_id: uuid.UUID) -> None:
    """Spend the user's other pending tokens of `purpose` (one verification verifies)."""
    await connection.execute(
        "UPDATE auth.account_tokens SET used_at = now() "
        "WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose,
    )
