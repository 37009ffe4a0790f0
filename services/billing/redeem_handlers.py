"""Redemption codes over HTTP.

- `POST /api/admin/redemption-codes` `{count, amount, expires_at?, note?}`
  (admin): 201 `{batch, codes}`; the codes are in this answer and nowhere
  else, ever. `count` 1..1000; `amount` a positive decimal string (at most 12
  places, at most `MAX_AMOUNT`); `expires_at` an ISO 8601 time with a zone, in
  the future.
- `GET /api/admin/redemption-codes?limit=&before=` (admin): batches, newest
  first, with how many of their codes were redeemed; never a code.
- `POST /api/billing/redeem` `{code}` (a signed-in user; the gateway refuses
  an API key): 200 `{amount, currency, balance, transaction_id, batch_id}`.
  A code that is wrong, already used or expired is one answer: 400
  `code_not_redeemable`, the same message for the three. Telling "already
  used" apart would tell a guesser which guesses were real codes, and someone
  holding a stolen list which codes are still worth trying (OWASP's
  Authentication Cheat Sheet: generic answers that do not reveal which part
  was wrong). A person who redeemed a code sees the credit in their ledger.
  Refusals are throttled per user and per source (`redeem_throttle`): 429
  with Retry-After.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.billing import redemption, snapshots
from services.billing.handlers import MAX_PAGE, _whole_number
from services.billing.money_fields import decimal_string, money
from services.billing.redeem_throttle import RedeemLimits, RedeemThrottle
from shared.bodies import Fields, read_object
from shared.errors import Unprocessable
from shared.holds import Holds
from shared.internal import caller
from shared.service import DB, REDIS

LIMITS = web.AppKey("redeem_limits", RedeemLimits)
MAX_AMOUNT = Decimal(1_000_000)
_CREATE_FIELDS = frozenset({"count", "amount", "expires_at", "note"})


def pool(request: web.Request) -> Any:
    return request.app[DB]


def batch_json(batch: redemption.Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "amount": money(batch.amount),
        "currency": batch.currency,
        "count": batch.count,
        "redeemed": batch.redeemed,
        "note": batch.note,
        "expires_at": None if batch.expires_at is None else batch.expires_at.isoformat(),
        "created_by": None if batch.created_by is None else str(batch.created_by),
        "created_at": batch.created_at.isoformat(),
    }


async def create_batch(request: web.Request) -> web.Response:
    admin = caller(request).require_admin()
    body = await read_object(request)
    fields = Fields(body)
    fields.refuse_unknown(_CREATE_FIELDS)
    count = fields.integer("count", low=1, high=redemption.MAX_BATCH, required=True)
    amount = decimal_string(
        body, "amount", fields.problems, places=12, whole_digits=10, positive=True
    )
    expires_at = fields.timestamp("expires_at")
    note = fields.string("note", required=False, max_length=500)
    if amount is not None and amount > MAX_AMOUNT:
        fields.problems.append(f"amount: at most {money(MAX_AMOUNT)} a code")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        fields.problems.append("expires_at: must be in the future")
    fields.check()
    assert count is not None and amount is not None
    async with pool(request).acquire() as connection:
        batch, codes = await redemption.create_batch(
            connection,
            count=count,
            amount=amount,
            expires_at=expires_at,
            note=(note or "").strip() or None,
            created_by=admin,
        )
    return web.json_response(
        {"batch": batch_json(batch), "codes": codes},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


async def list_batches(request: web.Request) -> web.Response:
    caller(request).require_admin()
    problems: list[str] = []
    limit, before = 50, None
    if raw := request.query.get("limit", ""):
        parsed = _whole_number(raw, 1, MAX_PAGE)
        if parsed is None:
            problems.append(f"limit: an integer from 1 to {MAX_PAGE}")
        else:
            limit = parsed
    if raw := request.query.get("before", ""):
        before = _whole_number(raw, 1, 2**63 - 1)
        if before is None:
            problems.append("before: a batch id from a previous page")
    if problems:
        raise Unprocessable("invalid query parameters", details=problems)
    async with pool(request).acquire() as connection:
        batches = await redemption.list_batches(connection, limit=limit, before=before)
    return web.json_response(
        {
            "data": [batch_json(batch) for batch in batches],
            "next_before": batches[-1].id if len(batches) == limit else None,
        }
    )


async def redeem(request: web.Request) -> web.Response:
    who = caller(request)
    user_id = who.require_user()
    fields = Fields(await read_object(request))
    fields.refuse_unknown({"code"})
    code = fields.string("code", max_length=200, controls="none")
    fields.check()
    assert code is not None
    throttle = RedeemThrottle(request.app[REDIS], request.app[LIMITS])
    await throttle.check(user_id, who.client_ip)
    try:
        async with pool(request).acquire() as connection:
            redeemed = await redemption.redeem(connection, code, user_id)
            # The gateways' holds see the new balance at once, as after any credit.
            await snapshots.install(connection, Holds(request.app[REDIS]), user_id)
    except redemption.NotRedeemable:
        await throttle.record_refusal(user_id, who.client_ip)
        raise
    return web.json_response(
        {
            "amount": money(redeemed.amount),
            "currency": redeemed.currency,
            "balance": money(redeemed.balance),
            "transaction_id": redeemed.transaction_id,
            "batch_id": redeemed.batch_id,
        }
    )
