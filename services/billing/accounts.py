"""Reading a user's account.

A user has no account until money first moves for them; until then their
balance is zero, their floor the default (0) and their version 0, exactly
what a fresh account holds, so a snapshot taken before and after the account
exists agrees.
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


NO_ACCOUNT = Balance(balance=Decimal(0), floor=Decimal(0), version=0, currency="USD")


async def user_balance(db: Any, user_id: uuid.UUID) -> Balance:
    row = await db.fetchrow(
        "SELECT balance, floor, version, currency FROM billing.accounts "
        "WHERE kind = 'user' AND user_id = $1",
        user_id,
    )
    return NO_ACCOUNT if row is None else Balance(**dict(row))
