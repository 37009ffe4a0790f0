"""`tollgate admin credit`: credit a user's account from the command line.

The same rules as `POST /api/admin/credits`, through the same code: the
request is validated by `credit_admin.read_credit` (a positive decimal amount
of at most 12 places) and posted by `credits.grant`, once per idempotency
key. Billing knows users only by id, so the user is given as a user id,
and an id no user has is refused (`NotFound`) before anything is written, as
the API refuses it. The API's billing asks auth over HTTP; the CLI has no
running auth to ask, so it asks auth's own code (`services.auth.store`, as
`create-user` does): billing's code still never reads auth's schema.
Problems raise `shared.errors.ApiError`s (`Unprocessable` with `details`,
`NotFound`, `IdempotencyKeyReused`) whose `message` is fit to print.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.auth import store as auth_store
from services.billing import credits
from services.billing.credit_admin import UNKNOWN_USER, read_credit
from shared import db
from shared.errors import NotFound


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
        if await auth_store.user_by_id(connection, request.user_id) is None:
            raise NotFound(UNKNOWN_USER)
        return await credits.grant(connection, request)
