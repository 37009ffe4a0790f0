"""The auth schema's SQL: users, API keys, security events.

Users are found by login key (`login_names.login_key`), never by the stored
spelling: the store writes `username_key` and `email_key` with every name it
stores, and their unique indexes make a name equal to a taken one after
normalisation a `Conflict`.

Every query that touches one user's objects filters by that user's id, so a
request for someone else's key finds nothing (404), never a 403 that would
confirm the key exists. Unique violations are mapped to `Conflict` here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.auth.login_names import login_key
from shared.errors import Conflict


@dataclass(frozen=True, kw_only=True)
class User:
    id: uuid.UUID
    email: str
    username: str
    display_name: str | None
    role: str
    created_at: datetime
    password_hash: str | None  # None: an account made by a sign-in provider (no password)
    email_verified_at: datetime | None = None
    token_generation: int = 0  # bumped by a password or email change: older JWTs are void
    time_zone: str | None = None  # an IANA name; None: not chosen (the console guesses)
    group_name: str = "default"  # the admission group (docs/admission.md)
    suspended_at: datetime | None = None  # set: refused everywhere (`suspension`)
    suspended_reason: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "email_verified": self.email_verified_at is not None,
            "time_zone": self.time_zone,
        }


_USER_COLUMNS = (
    "id, email, username, display_name, role, created_at, password_hash, "
    "email_verified_at, token_generation, time_zone, group_name, suspended_at, suspended_reason"
)


def _user(row: Any) -> User | None:
    return None if row is None else User(**dict(row))


class EmailTaken(Conflict):
    """The email belongs to an account: sign-up answers as if it did not (`signup`)."""


def _conflict(exc: asyncpg.UniqueViolationError) -> Conflict:
    index = exc.constraint_name or ""
    if "email" in index:
        return EmailTaken("email is already registered")
    if "username" in index:
        return Conflict("username is already taken")
    return Conflict("a unique value is already taken")


async def create_user(
    db: Any,
    *,
    email: str,
    username: str,
    password_hash: str,
    role: str = "user",
    verified: bool = False,
    language: str = "en",
) -> User:
    """A new account; `verified` for accounts an operator makes (no mail to prove);
    `language` (one of the mail templates' languages) for its pages and mails."""
    try:
        row = await db.fetchrow(
            f"INSERT INTO auth.users (email, username, password_hash, role, email_key, "
            f"username_key, email_verified_at, language) "
            f"VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END, $8) "
            f"RETURNING {_USER_COLUMNS}",
            email,
            username,
            password_hash,
            role,
            login_key(email),
            login_key(username),
            verified,
            language,
        )
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(exc) from None
    user = _user(row)
    assert user is not None
    return user


async def user_by_login(db: Any, login: str) -> User | None:
    """The account a login string names, by username or email in any spelling."""
    key = login_key(login)
    column = "email_key" if "@" in key else "username_key"
    row = await db.fetchrow(f"SELECT {_USER_COLUMNS} FROM auth.users WHERE {column} = $1", key)
    return _user(row)


async def username_taken(db: Any, username: str) -> bool:
    """Whether an account has this username in any spelling."""
    found = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM auth.users WHERE username_key = $1)", login_key(username)
    )
    return bool(found)


async def is_known_source(db: Any, user_id: uuid.UUID, ip: str | None, days: int) -> bool:
    """Whether this account signed up or logged in from this IP in the last `days`."""
    if ip is None:
        return False
    found = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM auth.security_events WHERE user_id = $1 "
        "AND kind IN ('signup', 'login') AND ip = $2::inet "
        "AND created_at > now() - make_interval(days => $3))",
        user_id,
        ip,
        days,
    )
    return bool(found)


async def user_by_id(db: Any, user_id: uuid.UUID) -> User | None:
    row = await db.fetchrow(f"SELECT {_USER_COLUMNS} FROM auth.users WHERE id = $1", user_id)
    return _user(row)


async def update_profile(
    db: Any, user_id: uuid.UUID, changes: dict[str, str | None]
) -> User | None:
    if not changes:
        return await user_by_id(db, user_id)
    if "username" in changes:
        changes = {**changes, "username_key": login_key(changes["username"] or "")}
    columns = sorted(changes)  # names come from the handler's fixed set, never from the client
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    try:
        row = await db.fetchrow(
            f"UPDATE auth.users SET {assignments}, updated_at = now() WHERE id = $1 "
            f"RETURNING {_USER_COLUMNS}",
            user_id,
            *(changes[name] for name in columns),
        )
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(exc) from None
    return _user(row)


async def change_email(db: Any, user_id: uuid.UUID, email: str) -> None:
    """A confirmed new address (proven by the mailed link): verified as it is set."""
    try:
        await db.execute(
            "UPDATE auth.users SET email = $2, email_key = $3, email_verified_at = now(), "
            "updated_at = now() WHERE id = $1",
            user_id,
            email,
            login_key(email),
        )
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(exc) from None


async def set_role(db: Any, user_id: uuid.UUID, role: str) -> None:
    """A change of role ends the user's browser sessions and voids their JWTs
    (whose `role` claim is now wrong: the token generation moves on) in the same
    statement (rotation at a privilege change); announce it with `sessions.set_role`."""
    await db.execute(
        "WITH changed AS (UPDATE auth.users SET role = $2, "
        "token_generation = token_generation + 1, updated_at = now() "
        "WHERE id = $1 AND role <> $2 RETURNING id) "
        "UPDATE auth.sessions SET revoked_at = now() "
        "WHERE user_id IN (SELECT id FROM changed) AND revoked_at IS NULL",
        user_id,
        role,
    )


async def record_event(
    db: Any,
    kind: str,
    *,
    user_id: uuid.UUID | None,
    ip: str | None,
    user_agent: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        "INSERT INTO auth.security_events (user_id, kind, ip, user_agent, detail) "
        "VALUES ($1, $2, $3::inet, $4, $5)",
        user_id,
        kind,
        ip,
        user_agent,
        detail or {},
    )


async def security_events(db: Any, user_id: uuid.UUID, limit: int = 100) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT kind, host(ip) AS ip, user_agent, detail, created_at FROM auth.security_events "
        "WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        user_id,
        limit,
    )
    return [{**dict(row), "created_at": row["created_at"].isoformat()} for row in rows]
