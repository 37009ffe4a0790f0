"""Orders for administrators: `GET /api/admin/orders` and
`POST /api/admin/orders/{id}/refund` (admin role; the gateway checks it,
billing again).

`GET /api/admin/orders?status=&user_id=&limit=&before=<order id>`: every
user's orders, newest first, filtered by status and user.

`GET /api/admin/orders/{id}`: one order as the list shows it, with
`adjustments`: the refunds and disputes posted against it so far (as its
receipt lists them).

`POST /api/admin/orders/{id}/refund` `{amount?, reason, seen_refunded_minor?}`: refunds a paid (or
partly refunded) order through its provider's API, all that is left when
`amount` is absent. Then, in one database transaction with the order locked,
the reversal is posted at once (the credit is taken back, as for a refund the
provider reports: the balance may go below zero), and the order moves to
`partially_refunded` or `refunded`. The provider's `charge.refunded` webhook,
whenever it comes, carries the same total and reverses nothing again.

Idempotent without a client key: the provider's idempotency key is derived
from the order, what it had refunded before and the amount
(`tollgate-refund-<order>-<refunded before>-<minor units>`), so a double
click or a retry asks the provider for the same refund, gets the same answer,
and finds the reversal already posted. A refund the provider marks failed
reverses nothing (409). A refund still pending at the provider is reversed
at once: the credit is taken back before the money leaves, never after.

`seen_refunded_minor` (the console's form carries it): what the order had
refunded when the admin's page was drawn. When the order has refunded
anything since (a form sent again later, from another tab or after the back
button), nothing is refunded: 409. Within the provider call, two requests
that both saw the same total share the derived key above, so they refund once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.billing.money_fields import money
from services.billing.payments import orders, reversals
from services.billing.payments.orders import Status
from services.billing.payments.payment_settings import minor_exponent, parse_amount
from services.billing.payments.provider import (
    DisputeOutcome,
    EventKind,
    ProviderRefused,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
    WebhookEvent,
)
from services.billing.payments.receipts import adjustments_of
from services.billing.payments.setup import PROVIDERS
from services.billing.payments.webhooks import process, refresh_balance
from shared.bodies import Fields, read_object
from shared.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from shared.holds import Holds
from shared.internal import caller
from shared.service import DB, REDIS

_log = logging.getLogger(__name__)

DEFAULT_PAGE = 50
MAX_PAGE = 200
REFUNDABLE = (Status.PAID, Status.PARTIALLY_REFUNDED)


def _admin_view(order: orders.Order) -> dict[str, Any]:
    view = order.public()
    view["user_id"] = str(order.user_id)
    view["payment_reference"] = order.payment_reference
    view["refunded_minor"] = order.refunded_minor
    return view


async def list_orders(request: web.Request) -> web.Response:
    caller(request).require_admin()
    problems: list[str] = []
    status: str | None = request.query.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        problems.append(f"status: one of {', '.join(s.value for s in Status)}")
    user_id: uuid.UUID | None = None
    if raw_user := request.query.get("user_id", ""):
        try:
            user_id = uuid.UUID(raw_user)
        except ValueError:
            problems.append("user_id: a user id (a UUID)")
    limit = DEFAULT_PAGE
    if raw_limit := request.query.get("limit", ""):
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_PAGE:
            limit = int(raw_limit)
        else:
            problems.append(f"limit: an integer from 1 to {MAX_PAGE}")
    pool: Any = request.app[DB]
    before: tuple[datetime, uuid.UUID] | None = None
    if raw_before := request.query.get("before", ""):
        found = None
        try:
            found = await orders.get(pool, uuid.UUID(raw_before))
        except ValueError:
            pass
        if found is None:
            problems.append("before: an order id from a previous page")
        else:
            before = (found.created_at, found.id)
    if problems:
        raise Unprocessable("invalid query parameters", details=problems)
    rows = await pool.fetch(
        f"SELECT {orders.COLUMNS} FROM billing.orders "
        "WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR user_id = $2) "
        "AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) "
        "ORDER BY created_at DESC, id DESC LIMIT $5",
        status,
        user_id,
        None if before is None else before[0],
        None if before is None else before[1],
        limit,
    )
    page = [orders.from_row(row) for row in rows]
    return web.json_response(
        {
            "data": [_admin_view(order) for order in page],
            "next_before": str(page[-1].id) if len(page) == limit else None,
        }
    )


async def show_order(request: web.Request) -> web.Response:
    caller(request).require_admin()
    try:
        order_id = uuid.UUID(request.match_info["order_id"])
    except ValueError:
        raise NotFound("order not found") from None
    pool: Any = request.app[DB]
    order = await orders.get(pool, order_id)
    if order is None:
        raise NotFound("order not found")
    view = _admin_view(order)
    view["adjustments"] = await adjustments_of(pool, order.id)
    return web.json_response(view)


def _read_refund(body: dict[str, Any], order: orders.Order) -> tuple[int, str]:
    fields = Fields(body)
    fields.refuse_unknown(("amount", "reason", "seen_refunded_minor"))
    seen = body.get("seen_refunded_minor")
    if seen is not None and (type(seen) is not int or seen < 0):
        fields.problems.append("seen_refunded_minor: a whole number of minor units, 0 or more")
    elif seen is not None and seen != order.refunded_minor:
        raise Conflict(
            "this order has been refunded since the page was shown: nothing was refunded now"
        )
    reason = fields.string("reason", max_length=500)
    if reason is not None and not reason.strip():
        fields.problems.append("reason: must not be blank")
    remaining = order.amount_minor - order.refunded_minor
    minor = remaining
    raw = body.get("amount")
    if raw is not None:
        places = minor_exponent(order.currency)
        amount = parse_amount(raw, places) if isinstance(raw, str) else None
        if amount is None:
            fields.problems.append(
                f"amount: a positive decimal string with at most {places} decimal places"
            )
        else:
            minor = orders.to_minor(amount, order.currency)
            if minor > remaining:
                left = Decimal(remaining).scaleb(-places)
                fields.problems.append(
                    f"amount: at most {money(left)} {order.currency} is left to refund"
                )
    fields.check()
    assert reason is not None
    return minor, reason.strip()


async def refund(request: web.Request) -> web.Response:
    admin = caller(request).require_admin()
    try:
        order_id = uuid.UUID(request.match_info["order_id"])
    except ValueError:
        raise NotFound("order not found") from None
    pool: Any = request.app[DB]
    order = await orders.get(pool, order_id)
    if order is None:
        raise NotFound("order not found")
    if order.status not in REFUNDABLE:
        raise Conflict(f"only a paid order can be refunded; this one is {order.status}")
    minor, reason = _read_refund(await read_object(request), order)
    provider = request.app[PROVIDERS].get(order.provider)
    if provider is None or order.provider_payment_id is None:
        raise ServiceUnavailable(f"{order.provider} is not enabled: it cannot refund now")
    before = order.refunded_minor
    try:
        answer = await provider.refund(
            RefundRequest(
                provider_payment_id=order.provider_payment_id,
                payment_reference=order.payment_reference,
                amount_minor=minor,
                currency=order.currency,
                idempotency_key=f"tollgate-refund-{order.id}-{before}-{minor}",
                reason=reason,
            )
        )
    except ProviderUnavailable as exc:
        raise ServiceUnavailable(
            f"{order.provider} cannot be reached: nothing was refunded; try again"
        ) from exc
    except ProviderRefused as exc:
        raise Conflict(f"{order.provider} refused the refund: {exc}") from exc
    if answer.status is RefundStatus.FAILED:
        raise Conflict(f"{order.provider} says the refund {answer.refund_id} failed")
    async with pool.acquire() as connection:
        async with connection.transaction():
            locked = await orders.get(connection, order.id, lock=True)
            assert locked is not None
            target = before + minor
            fresh = target - locked.refunded_minor
            if fresh > 0:
                await reversals.post_reversal(
                    connection,
                    locked,
                    amount=reversals.credit_for(locked, fresh),
                    kind="refund",
                    reason=f"refund: order {order.id} by an administrator ({answer.refund_id}): "
                    f"{reason}"[:500],
                )
                status = (
                    Status.REFUNDED if target >= locked.amount_minor else Status.PARTIALLY_REFUNDED
                )
                if locked.status is Status.DISPUTED:
                    status = Status.DISPUTED
                await reversals.set_refund_state(
                    connection, order.id, status=status, refunded_minor=target
                )
        if fresh > 0:
            await refresh_balance(Holds(request.app[REDIS]), connection, order)
        updated = await orders.get(connection, order.id)
    assert updated is not None
    _log.warning(
        "order refunded by an administrator",
        extra={"order_id": str(order.id), "admin": str(admin), "minor": minor},
    )
    return web.json_response(
        {
            "order": _admin_view(updated),
            "refund": {
                "id": answer.refund_id,
                "status": answer.status.value,
                "amount_minor": minor,
            },
        }
    )


async def close_dispute(request: web.Request) -> web.Response:
    """`POST /api/admin/orders/{id}/dispute` `{outcome: "won" | "lost"}`: close a
    dispute the provider sends no closing event for (Creem), exactly as that
    event would (webhooks.process with a recorded synthetic event)."""
    admin = caller(request).require_admin()
    try:
        order_id = uuid.UUID(request.match_info["order_id"])
    except ValueError:
        raise NotFound("order not found") from None
    body = await read_object(request)
    fields = Fields(body)
    fields.refuse_unknown(("outcome",))
    outcome = fields.string("outcome", max_length=10, controls="none")
    if outcome is not None and outcome not in ("won", "lost"):
        fields.problems.append("outcome: won or lost")
    fields.check()
    assert outcome is not None
    pool: Any = request.app[DB]
    order = await orders.get(pool, order_id)
    if order is None:
        raise NotFound("order not found")
    if order.status is not Status.DISPUTED:
        raise Conflict(f"the order is {order.status}, not disputed")
    event = WebhookEvent(
        provider=order.provider,
        event_id=f"admin-dispute:{order.id}:{uuid.uuid4()}",
        kind=EventKind.DISPUTE_CLOSED,
        event_type="admin.dispute_closed",
        order_id=order.id,
        dispute_outcome=DisputeOutcome(outcome),
    )
    async with pool.acquire() as connection:
        result = await process(connection, event)
        if result is not None and result.moved and result.order is not None:
            await refresh_balance(Holds(request.app[REDIS]), connection, result.order)
        updated = await orders.get(connection, order.id)
    assert updated is not None
    _log.warning(
        "dispute closed by an administrator",
        extra={"order_id": str(order.id), "admin": str(admin), "outcome": outcome},
    )
    return web.json_response({"order": _admin_view(updated)})
