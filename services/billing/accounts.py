"""Reading a user's account.

A user has no account until money first moves for them; until then their
balance is zero, their floor the default (0) and their version 0, exactly
what a fresh account holds, so a snapshot taken before and after the account
exists agrees.

The floor the gateways' holds see (`SPENDING_FLOOR`) is the account's own,
except while one of the user's top-up orders is `disputed` (a chargeback is
open, DESIGN 12): then it is above the balance, so no hold is placed and
relaying is refused (402) until the dispute closes. Every balance snapshot
(`snapshots.read`, `/internal/balances`) reads it; charging keeps the real
floor, so requests already running are charged as usual.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Balance:
    balance: Decimal
    floor: Decimal
    version: int
    currency: str


SPENDING_FLOOR = (
    "CASE WHEN EXISTS (SELECT 1 FROM billing.orders o WHERE o.user_id = a.user_id "
    "AND o.status = 'disputed') THEN GREATEST(a.floor, a.balance) + 1 ELSE a.floor END"
)

NO_ACCOUNT = Balance(balance=Decimal(0), floor=Decimal(0), version=0, currency="USD")


async def user_balance(db: Any, user_id: uuid.UUID) -> Balance:
    row = await db.fetchrow(
        f"SELECT a.balance, {SPENDING_FLOOR} AS floor, a.version, a.currency "
        "FROM billing.accounts a WHERE a.kind = 'user' AND a.user_id = $1",
        user_id,
    )
    return NO_ACCOUNT if row is None else Balance(**dict(row))
