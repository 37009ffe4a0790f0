"""`tollgate admin credit`: credit a user's account from the command line.

The same rules as `POST /api/admin/credits`, through the same code: the
request is validated by `credit_admin.read_credit` (a positive decimal amount
of at most 12 places) and posted by `credits.grant`, once per idempotency
key. Billing knows users only by id, so the user is given as a user id.
Problems raise `shared.errors.ApiError`s (`Unprocessable` with `details`,
`IdempotencyKeyReused`) whose `message` is fit to print.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.billing import credits
from services.billing.credit_admin import read_credit
from shared import db


async def credit(
    database_url: str,
    *,
    user: str,
    amount: str | Decimal,
    reason: str,
    idempotency_key: str,
) -> dict[str, Any]:
    """Credit `user` (a user id) with `amount` USD; the same answer as the API's."""
    request = read_credit(
        {
            "user_id": user,
            "amount": format(amount, "f") if isinstance(amount, Decimal) else amount,
            "reason": reason,
            "idempotency_key": idempotency_key,
        },
        created_by=None,
    )
    async with db.pool(database_url, min_size=1, max_size=1) as pool, pool.acquire() as connection:
        return await credits.grant(connection, request)
