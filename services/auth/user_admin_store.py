"""The auth schema's SQL for admins' view of accounts: search and one account.

Search (`search`): an id finds that account only; any other text is looked
for inside the normalised email and username (`login_names.login_key`, so
`Ada@Example.com` finds `ada@example.com`), newest accounts first, a page at
a time. The cursor is the id of the last account of the page before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.auth.login_names import login_key


@dataclass(frozen=True, kw_only=True)
class AdminView:
    """An account as an admin sees it (never its password hash or tokens)."""

    id: uuid.UUID
    email: str
    username: str
    display_name: str | None
    role: str
    group_name: str
    rpm: int | None
    tpm: int | None
    concurrency: int | None
    suspended_at: datetime | None
    suspended_reason: str | None
    email_verified_at: datetime | None
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "group": self.group_name,
            "limits": {"rpm": self.rpm, "tpm": self.tpm, "concurrency": self.concurrency},
            "suspended": self.suspended_at is not None,
            "suspended_at": None if self.suspended_at is None else self.suspended_at.isoformat(),
            "suspended_reason": self.suspended_reason,
            "email_verified": self.email_verified_at is not None,
            "created_at": self.created_at.isoformat(),
        }


COLUMNS = (
    "id, email, username, display_name, role, group_name, rpm, tpm, concurrency, "
    "suspended_at, suspended_reason, email_verified_at, created_at"
)


def view(row: Any) -> AdminView:
    return AdminView(**{name: row[name] for name in COLUMNS.split(", ")})


def _like(text: str) -> str:
    """A LIKE pattern finding `text` anywhere, its own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    db: Any, q: str | None, *, limit: int, after: uuid.UUID | None
) -> tuple[list[AdminView], uuid.UUID | None]:
    """A page of accounts matching `q` (all when None), newest first, and the
    cursor of the next page (None on the last)."""
    exact: uuid.UUID | None = None
    pattern: str | None = None
    if q is not None:
        try:
            exact = uuid.UUID(q)
        except ValueError:
            pattern = _like(login_key(q))
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM auth.users u "
        "WHERE ($1::uuid IS NULL OR u.id = $1) "
        "AND ($2::text IS NULL OR u.email_key LIKE $2 OR u.username_key LIKE $2) "
        "AND ($3::uuid IS NULL OR (u.created_at, u.id) < "
        "(SELECT c.created_at, c.id FROM auth.users c WHERE c.id = $3)) "
        "ORDER BY u.created_at DESC, u.id DESC LIMIT $4",
        exact,
        pattern,
        after,
        limit + 1,
    )
    found = [view(row) for row in rows[:limit]]
    return found, found[-1].id if len(rows) > limit else None


async def get(db: Any, user_id: uuid.UUID, *, lock: bool = False) -> AdminView | None:
    """One account; `lock` (in a transaction) holds it until the commit."""
    row = await db.fetchrow(
        f"SELECT {COLUMNS} FROM auth.users WHERE id = $1{' FOR UPDATE' if lock else ''}",
        user_id,
    )
    return None if row is None else view(row)
