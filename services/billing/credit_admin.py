"""`POST /api/admin/credits`: an admin credits a user's account.

Body `{user_id, amount, reason, idempotency_key}`; `amount` is a positive
decimal string (never a JSON number) of at most 12 decimal places and at most
`MAX_CREDIT`. The answer is 201 with the new balance and the ledger
transaction id, and the same answer again for a retry with the same key and
body (see `credits`). Admin role only. A user id auth does not know is 404,
and nothing is written (`user_directory`): billing would otherwise open an
account, and a balance, for any id it is given.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.billing import credits, snapshots
from services.billing.money_fields import decimal_string, money
from services.billing.user_directory import USER_DIRECTORY
from shared.bodies import Fields, read_object
from shared.errors import NotFound
from shared.holds import Holds
from shared.internal import caller
from shared.service import DB, REDIS

# A sanity bound against a slipped finger; far below the ledger's columns.
MAX_CREDIT = Decimal(1_000_000_000)
_FIELDS = frozenset({"user_id", "amount", "reason", "idempotency_key"})
UNKNOWN_USER = "user_id: no user has this id; no credit was made"


def read_credit(body: dict[str, Any], *, created_by: uuid.UUID | None) -> credits.CreditRequest:
    """The credit a body asks for, or one 422 listing every problem."""
    fields = Fields(body)
    fields.refuse_unknown(_FIELDS)
    raw_user = fields.string("user_id", max_length=64, controls="none")
    amount = decimal_string(
        body, "amount", fields.problems, places=12, whole_digits=10, positive=True
    )
    reason = fields.string("reason", max_length=500)
    key = fields.string("idempotency_key", max_length=200, controls="none")
    user_id = None
    if raw_user is not None:
        try:
            user_id = uuid.UUID(raw_user)
        except ValueError:
            fields.problems.append("user_id: not a user id (a UUID)")
    if amount is not None and amount > MAX_CREDIT:
        fields.problems.append(f"amount: at most {money(MAX_CREDIT)} in one credit")
    if reason is not None and not reason.strip():
        fields.problems.append("reason: must not be blank")
    if key is not None and not key.strip():
        fields.problems.append("idempotency_key: must not be blank")
    fields.check()
    assert user_id is not None and amount is not None and reason and key
    return credits.CreditRequest(
        user_id=user_id,
        amount=amount,
        reason=reason.strip(),
        idempotency_key=key,
        created_by=created_by,
    )


async def post_credit(request: web.Request) -> web.Response:
    admin = caller(request).require_admin()
    credit = read_credit(await read_object(request), created_by=admin)
    if not await request.app[USER_DIRECTORY].exists(credit.user_id):
        raise NotFound(UNKNOWN_USER)
    pool: Any = request.app[DB]
    async with pool.acquire() as connection:
        answer = await credits.grant(connection, credit)
        # The gateways' holds see the new balance at once (never an older one).
        await snapshots.install(connection, Holds(request.app[REDIS]), credit.user_id)
    return web.json_response(answer, status=201)
