"""The auth schema's SQL for groups: the tiers an operator sells.

A group has a price multiplier (applied to the hold and the charge) and
default limits for its members; every user is in exactly one (`default`
unless an admin moves them). `default` always exists and is never deleted;
neither is a group with members (the foreign key from `auth.users` makes
that true even against a concurrent move into the group).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.auth.key_store import decimal_text
from shared.errors import Conflict

DEFAULT = "default"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True, kw_only=True)
class Group:
    name: str
    price_multiplier: Decimal
    rpm: int | None
    tpm: int | None
    concurrency: int | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    members: int

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "price_multiplier": decimal_text(self.price_multiplier),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "concurrency": self.concurrency,
            "note": self.note,
            "members": self.members,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


_SELECT = (
    "SELECT g.name, g.price_multiplier, g.rpm, g.tpm, g.concurrency, g.note, g.created_at, "
    "g.updated_at, (SELECT count(*) FROM auth.users u WHERE u.group_name = g.name) AS members "
    "FROM auth.groups g"
)


def _group(row: Any) -> Group:
    return Group(**dict(row))


async def list_all(db: Any) -> list[Group]:
    return [_group(row) for row in await db.fetch(f"{_SELECT} ORDER BY g.name")]


async def get(db: Any, name: str) -> Group | None:
    row = await db.fetchrow(f"{_SELECT} WHERE g.name = $1", name)
    return None if row is None else _group(row)


async def exists(db: Any, name: str) -> bool:
    return bool(
        await db.fetchval("SELECT EXISTS (SELECT 1 FROM auth.groups WHERE name = $1)", name)
    )


async def put(
    db: Any,
    name: str,
    *,
    price_multiplier: Decimal,
    rpm: int | None,
    tpm: int | None,
    concurrency: int | None,
    note: str | None,
) -> tuple[Group, bool]:
    """Create the group or replace all its settings; the group and whether it is new."""
    created: bool = await db.fetchval(
        "INSERT INTO auth.groups AS g (name, price_multiplier, rpm, tpm, concurrency, note) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET "
        "price_multiplier = EXCLUDED.price_multiplier, rpm = EXCLUDED.rpm, tpm = EXCLUDED.tpm, "
        "concurrency = EXCLUDED.concurrency, note = EXCLUDED.note, updated_at = now() "
        "RETURNING (xmax = 0)",
        name,
        price_multiplier,
        rpm,
        tpm,
        concurrency,
        note,
    )
    group = await get(db, name)
    assert group is not None
    return group, created


async def delete(db: Any, name: str) -> bool:
    """Delete a group without members; False when there is no such group,
    `Conflict` for `default` or a group with members."""
    if name == DEFAULT:
        raise Conflict("the default group cannot be deleted")
    try:
        status: str = await db.execute(
            "DELETE FROM auth.groups g WHERE g.name = $1 "
            "AND NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.group_name = g.name)",
            name,
        )
    except asyncpg.ForeignKeyViolationError:  # a member joined meanwhile
        raise Conflict("the group has members; move them to another group first") from None
    if status.endswith(" 1"):
        return True
    if await exists(db, name):
        raise Conflict("the group has members; move them to another group first")
    return False
