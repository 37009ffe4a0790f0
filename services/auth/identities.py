"""Provider identities (`auth.identities`): which Google or GitHub account signs
in as which user.

Rules:
- An identity is keyed by (provider, subject): Google's `sub`, GitHub's user
  `id`. Never by email: an email only ever decides whether a new account may
  be created (no account has it) or a link must be proven (one has).
- Only the email, name and avatar URL are kept, refreshed at each sign-in; no
  provider token is stored anywhere.
- An account created by a provider has no password (`password_hash` NULL: no
  password login matches it) and its email is verified, as the provider said.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.auth import accounts, store
from services.auth.login_names import login_key
from shared.errors import Conflict

_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME_TRIES = 8


@dataclass(frozen=True, kw_only=True)
class ProviderIdentity:
    """Who the provider says signed in; `email` only when the provider verified it."""

    provider: str
    subject: str
    email: str | None
    name: str | None
    avatar_url: str | None
    username_hint: str | None = None  # GitHub's login; else the email's local part


def _bounded(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value.strip() if ch.isprintable())[:limit]
    return text or None


def cleaned(identity: ProviderIdentity) -> ProviderIdentity:
    """The identity with each kept field bounded and printable; an email that
    is not a valid address is dropped."""
    email = _bounded(identity.email, 254)
    if email is not None:
        email = accounts.normalise_email(email)
        if accounts.email_problems(email):
            email = None
    avatar = _bounded(identity.avatar_url, 2048)
    if avatar is not None and not avatar.startswith("https://"):
        avatar = None
    return ProviderIdentity(
        provider=identity.provider,
        subject=identity.subject,
        email=email,
        name=_bounded(identity.name, accounts.DISPLAY_NAME_MAX),
        avatar_url=avatar,
        username_hint=_bounded(identity.username_hint, 64),
    )


def username_candidates(identity: ProviderIdentity) -> list[str]:
    """Usernames to try, best first: the hint (or the email's local part)
    fitted to the username rule, then with random suffixes."""
    base = identity.username_hint or (identity.email or "").split("@")[0] or identity.provider
    base = _USERNAME_CHARS.sub("", base).lstrip("_.-")[:24]
    if len(base) < 3:
        base = f"{identity.provider}-{base}".rstrip("_.-")
    candidates = [base]
    candidates += [f"{base}-{secrets.token_hex(3)}" for _ in range(_NAME_TRIES)]
    return [name for name in candidates if not accounts.username_problems(name)]


async def user_for(db: Any, provider: str, subject: str) -> store.User | None:
    row = await db.fetchrow(
        "SELECT user_id FROM auth.identities WHERE provider = $1 AND subject = $2",
        provider,
        subject,
    )
    return None if row is None else await store.user_by_id(db, row["user_id"])


async def touch(db: Any, identity: ProviderIdentity) -> None:
    """Record a sign-in: the kept fields as the provider gives them now."""
    await db.execute(
        "UPDATE auth.identities SET email = $3, name = $4, avatar_url = $5, "
        "last_login_at = now() WHERE provider = $1 AND subject = $2",
        identity.provider,
        identity.subject,
        identity.email,
        identity.name,
        identity.avatar_url,
    )


async def link(db: Any, user_id: uuid.UUID, identity: ProviderIdentity) -> None:
    """Attach the identity to an account; `Conflict` when it belongs to one already."""
    try:
        await db.execute(
            "INSERT INTO auth.identities "
            "(provider, subject, user_id, email, name, avatar_url, last_login_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, now())",
            identity.provider,
            identity.subject,
            user_id,
            identity.email,
            identity.name,
            identity.avatar_url,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("this sign-in is already linked to an account") from None


async def create_account(pool: Any, identity: ProviderIdentity) -> store.User:
    """A new passwordless account for the identity, with the identity linked,
    in one transaction. `Conflict` when the email or the identity was taken
    meanwhile (the caller looks again)."""
    assert identity.email is not None
    for username in username_candidates(identity):
        try:
            async with pool.acquire() as db, db.transaction():
                row = await db.fetchrow(
                    "INSERT INTO auth.users (email, username, display_name, password_hash, "
                    "email_key, username_key, email_verified_at) "
                    "VALUES ($1, $2, $3, NULL, $4, $5, now()) RETURNING id",
                    identity.email,
                    username,
                    identity.name,
                    login_key(identity.email),
                    login_key(username),
                )
                await link(db, row["id"], identity)
        except asyncpg.UniqueViolationError as exc:
            if "username" in (exc.constraint_name or ""):
                continue
            raise Conflict("the email was registered meanwhile") from None
        user = await store.user_by_id(pool, row["id"])
        assert user is not None
        return user
    raise Conflict("no free username could be found")
