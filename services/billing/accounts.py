"""Billing accounts and their balances.

A user has no account until money first moves for them; until then their
balance is zero. Balances are `Decimal`, rendered as decimal strings, never
floats.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any


async def user_balance(db: Any, user_id: uuid.UUID) -> tuple[Decimal, str]:
    row = await db.fetchrow(
        "SELECT balance, currency FROM billing.accounts WHERE kind = 'user' AND user_id = $1",
        user_id,
    )
    if row is None:
        return Decimal(0), "USD"
    return row["balance"], row["currency"]


def money(amount: Decimal) -> str:
    """A decimal string: cents when that is exact, every digit otherwise."""
    cents = amount.quantize(Decimal("0.01"))
    return format(cents if cents == amount else amount.normalize(), "f")
