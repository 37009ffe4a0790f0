"""Balance snapshots for the gateways' holds, read from PostgreSQL after a commit.

Whatever changes a balance (a charge, a top-up) installs the committed
balance, floor and version in Redis afterwards; Redis keeps the newest
version it has seen, so snapshots installed out of order never move a
balance backwards. A user with no account yet has balance 0 at version 0.
The floor is the one holds spend down to (`accounts.SPENDING_FLOOR`: above
the balance while a dispute is open).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from services.billing.accounts import SPENDING_FLOOR
from shared import db, redis_conn
from shared.holds import Holds, Snapshot

ZERO = Snapshot(Decimal(0), Decimal(0), 0)


async def read(connection: Any, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Snapshot]:
    rows = await connection.fetch(
        f"SELECT a.user_id, a.balance, {SPENDING_FLOOR} AS floor, a.version "
        "FROM billing.accounts a WHERE a.kind = 'user' AND a.user_id = ANY($1::uuid[])",
        list(user_ids),
    )
    return {row["user_id"]: Snapshot(row["balance"], row["floor"], row["version"]) for row in rows}


async def install(connection: Any, holds: Holds, user_id: uuid.UUID) -> None:
    found = await read(connection, [user_id])
    await holds.install(user_id, found.get(user_id, ZERO))


async def refresh_one(database_url: str, redis_url: str, user_id: uuid.UUID) -> None:
    """For tools outside a running service (the CLI)."""
    async with db.pool(database_url, max_size=1) as pool, redis_conn.client(redis_url) as redis:
        await install(pool, Holds(redis), user_id)
