"""`POST /api/billing/webhooks/{provider}`: a provider tells billing what happened.

Public through the gateway (no credential; the gateway passes the raw body and
the signature headers untouched). In order:

1. The provider must be enabled (else 404). Its `parse_webhook` verifies the
   signature over the RAW body before anything parses it, with billing's clock.
   Unverifiable (bad, missing or stale signature, no secret configured): 400,
   nothing changes, counted in `tollgate_billing_webhooks_refused`.
2. A verified event seen before ((provider, event id) in billing.payment_events)
   is acknowledged 200 and changes nothing.
3. In ONE database transaction: the order it names is found and locked (by the
   order id it carries, else the provider's ids), checked, moved, credited
   (orders.credit_order), and the event recorded with its outcome. Concurrent
   deliveries of one event: the loser's record collides with the winner's
   (primary key), so it rolls back whatever it did and answers "duplicate".
   Different events for one payment (completed and async_payment_succeeded,
   or the reconciler): the order's row lock and its status serialise them and
   the one-credit-per-order index backs it.
4. After commit, a credit installs the user's new balance in Redis for the
   gateways' holds (as usage charges and admin credits do).

A payment event that does not match its order (another provider's order, an
amount or currency other than the order's, another payment id) or names no
order credits nothing, logs an error and counts in
`tollgate_billing_payment_alerts`, and is answered 200 with the outcome, and
recorded: the provider would otherwise retry it for days, and a retry could
not change the answer (the mismatch is in the event, signed by the provider).
An operator reads the alert; the reconciler (later) asks the provider.

Any failure while processing (the database down, a bug) answers 500, the
transaction rolls back (the event is not recorded), so the provider retries.

Refunds and disputes the provider reports post reversals (reversals.post_reversal:
the balance may go below zero, a debt the holds then refuse to spend past):

- refunded (the event carries the total refunded so far): the part not yet
  reversed is taken back, in proportion to the credit; the order becomes
  `partially_refunded` or `refunded`. A total at or below what was already
  reversed (a repeat, or an older event arriving late) changes nothing.
- dispute opened: the disputed amount (at most what is not refunded) is taken
  back and the order is `disputed`: while it is, the account's holds see a
  floor above its balance (accounts.SPENDING_FLOOR), so relaying is refused
  with 402; closed and won: it is given back and the order returns to `paid`
  (or `partially_refunded`); lost: it stays taken and the order is `refunded`
  (or `partially_refunded`). Either way relaying resumes (within the balance).
- Such an event for an order not credited yet (events out of order), or a
  dispute closing that was never seen opening, answers 503 and is not
  recorded, so the provider sends it again, after the payment's own event or
  the reconciler has credited the order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Context, localcontext
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from services.billing import snapshots
from services.billing.payments import orders, reversals
from services.billing.payments.orders import Order, Status
from services.billing.payments.provider import (
    DisputeOutcome,
    EventKind,
    WebhookEvent,
    WebhookRefused,
)
from services.billing.payments.setup import CLOCK, PAYMENT_METRICS, PROVIDERS, PaymentMetrics
from shared.bodies import API_BODY_LIMIT, read_limited
from shared.errors import BadRequest, NotFound, RetryLater
from shared.holds import Holds
from shared.service import DB, REDIS

_log = logging.getLogger(__name__)


class WebhookRefusedError(BadRequest):
    code = "webhook_refused"


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str  # as stored in billing.payment_events.outcome
    order: Order | None = None
    credited: bool = False
    moved: bool = False  # the user's balance changed: install the new snapshot
    detail: str | None = None
    alert: bool = False


class _Duplicate(Exception):
    """The event was recorded by a concurrent delivery: undo this one."""


async def receive(request: web.Request) -> web.Response:
    name = request.match_info["provider"]
    provider = request.app[PROVIDERS].get(name)
    if provider is None:
        raise NotFound(f"no payment provider {name[:40]!r} is enabled")
    metrics = request.app[PAYMENT_METRICS]
    body = await read_limited(request, API_BODY_LIMIT)
    try:
        event = provider.parse_webhook(body, request.headers, request.app[CLOCK]())
    except WebhookRefused as refused:
        metrics.refused.labels(name).inc()
        _log.warning("payment webhook refused", extra={"provider": name, "reason": refused.reason})
        raise WebhookRefusedError(f"webhook refused: {refused.reason}") from None
    pool: Any = request.app[DB]
    async with pool.acquire() as connection:
        result = await process(connection, event)
        if result is None:
            return web.json_response({"received": True, "duplicate": True})
        report(metrics, event, result)
        if (result.credited or result.moved) and result.order is not None:
            await refresh_balance(Holds(request.app[REDIS]), connection, result.order)
    return web.json_response({"received": True, "duplicate": False, "outcome": result.outcome})


async def process(connection: Any, event: WebhookEvent) -> Outcome | None:
    """Apply a verified event once; None when it was seen before."""
    if await _seen(connection, event):
        return None
    try:
        async with connection.transaction():
            result = await _apply(connection, event)
            recorded = await connection.fetchval(
                "INSERT INTO billing.payment_events "
                "(provider, event_id, order_id, type, kind, outcome, detail) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (provider, event_id) DO NOTHING RETURNING true",
                event.provider,
                event.event_id,
                None if result.order is None else result.order.id,
                event.event_type,
                event.kind.value,
                result.outcome,
                None if result.detail is None else result.detail[:1000],
            )
            if not recorded:
                raise _Duplicate()
    except _Duplicate:
        return None
    return result


async def _seen(connection: Any, event: WebhookEvent) -> bool:
    found = await connection.fetchval(
        "SELECT true FROM billing.payment_events WHERE provider = $1 AND event_id = $2",
        event.provider,
        event.event_id,
    )
    return bool(found)


async def _apply(connection: Any, event: WebhookEvent) -> Outcome:
    if event.kind is EventKind.IGNORED:
        return Outcome("ignored")
    order = await orders.find(
        connection,
        order_id=event.order_id,
        provider=event.provider,
        provider_payment_id=event.provider_payment_id,
        payment_reference=event.payment_reference,
    )
    if order is None:
        return Outcome("unknown_order", detail="no order matches the event", alert=True)
    if problem := _mismatch(order, event):
        return Outcome("mismatch", order=order, detail=problem, alert=True)
    if event.kind is EventKind.PAID:
        transaction_id = await orders.credit_order(
            connection,
            order,
            provider_payment_id=event.provider_payment_id,
            payment_reference=event.payment_reference,
            reason=f"top-up: order {order.id} paid through {order.provider}",
        )
        if transaction_id is None:
            return Outcome("already_credited", order=order)
        return Outcome("credited", order=order, credited=True, detail=f"ledger {transaction_id}")
    if event.kind in (EventKind.EXPIRED, EventKind.PAYMENT_FAILED):
        status = Status.EXPIRED if event.kind is EventKind.EXPIRED else Status.FAILED
        failure = None if status is Status.EXPIRED else "the payment failed at the provider"
        if await orders.close(connection, order.id, status, failure):
            return Outcome(status.value, order=order)
        return Outcome("no_change", order=order, detail=f"order is {order.status}")
    if event.kind is EventKind.REFUNDED:
        return await _refund(connection, order, event)
    if event.kind is EventKind.DISPUTE_OPENED:
        return await _dispute_opened(connection, order, event)
    if event.kind is EventKind.DISPUTE_CLOSED:
        return await _dispute_closed(connection, order, event)
    return Outcome("unhandled", order=order, detail=f"{event.kind} not acted on")


class NotYetCredited(RetryLater):
    """A refund or dispute for an order whose payment billing has not credited yet."""

    status = 503
    code = "payment_not_settled_yet"


def _not_yet(order: Order) -> NotYetCredited:
    return NotYetCredited(
        f"order {order.id} is {order.status}: its payment is not credited yet; send this "
        "event again later",
        retry_after=60,
    )


async def _refund(connection: Any, order: Order, event: WebhookEvent) -> Outcome:
    if order.status not in orders.CREDITED:
        raise _not_yet(order)
    total = event.refund_amount_minor
    if total is None or not 0 < total <= order.amount_minor:
        return Outcome(
            "mismatch",
            order=order,
            detail=f"refunded total {total} for {order.amount_minor}",
            alert=True,
        )
    fresh = total - order.refunded_minor
    if fresh <= 0:
        return Outcome("no_change", order=order, detail=f"{total} already reversed")
    amount = reversals.credit_for(order, fresh)
    transaction_id = await reversals.post_reversal(
        connection,
        order,
        amount=amount,
        kind="refund",
        reason=f"refund: order {order.id} ({fresh} of {order.amount_minor} minor units)",
    )
    if order.status is Status.DISPUTED:
        status = Status.DISPUTED  # the dispute decides where it ends
    elif total >= order.amount_minor:
        status = Status.REFUNDED
    else:
        status = Status.PARTIALLY_REFUNDED
    if status is not order.status:
        orders.check_move(order.status, status)
    await reversals.set_refund_state(connection, order.id, status=status, refunded_minor=total)
    return Outcome(status.value, order=order, moved=True, detail=f"ledger {transaction_id}")


async def _dispute_opened(connection: Any, order: Order, event: WebhookEvent) -> Outcome:
    if order.status not in orders.CREDITED:
        raise _not_yet(order)
    if order.status in (Status.DISPUTED, Status.REFUNDED):
        return Outcome("no_change", order=order, detail=f"order is {order.status}")
    open_minor = order.amount_minor - order.refunded_minor
    disputed = min(event.dispute_amount_minor or open_minor, open_minor)
    amount = reversals.credit_for(order, disputed)
    transaction_id = await reversals.post_reversal(
        connection,
        order,
        amount=amount,
        kind="dispute",
        reason=f"dispute: order {order.id} ({event.dispute_id or 'no id'})",
    )
    orders.check_move(order.status, Status.DISPUTED)
    await reversals.set_refund_state(
        connection, order.id, status=Status.DISPUTED, refunded_minor=order.refunded_minor
    )
    return Outcome("disputed", order=order, moved=True, detail=f"ledger {transaction_id}")


async def _dispute_closed(connection: Any, order: Order, event: WebhookEvent) -> Outcome:
    if order.status is not Status.DISPUTED:
        if order.status in (Status.PAID, Status.PARTIALLY_REFUNDED, Status.REFUNDED) and (
            await reversals.disputed_credit(connection, order.id) == 0
            and not await _dispute_seen(connection, order.id)
        ):
            raise _not_yet(order)  # its opening has not been processed yet
        return Outcome("no_change", order=order, detail=f"order is {order.status}")
    held = await reversals.disputed_credit(connection, order.id)
    if event.dispute_outcome is DisputeOutcome.WON:
        moved = False
        if held > 0:
            await reversals.restore_credit(
                connection,
                order,
                amount=held,
                reason=f"dispute won: order {order.id}, its credit given back",
            )
            moved = True
        if not moved:
            await reversals.touch_account(connection, order.user_id)
        status = Status.PARTIALLY_REFUNDED if order.refunded_minor > 0 else Status.PAID
        await reversals.set_refund_state(
            connection, order.id, status=status, refunded_minor=order.refunded_minor
        )
        return Outcome("dispute_won", order=order, moved=True)
    lost_minor = order.amount_minor - order.refunded_minor
    if held < order.credit:
        with localcontext(Context(prec=60)):
            lost_minor = min(lost_minor, int(held * order.amount_minor / order.credit))
    refunded = order.refunded_minor + lost_minor
    status = Status.REFUNDED if refunded >= order.amount_minor else Status.PARTIALLY_REFUNDED
    await reversals.set_refund_state(connection, order.id, status=status, refunded_minor=refunded)
    # No balance moves, but the account is no longer suspended: a new version,
    # so the gateways' snapshot is replaced.
    await reversals.touch_account(connection, order.user_id)
    return Outcome("dispute_lost", order=order, moved=True)


async def _dispute_seen(connection: Any, order_id: Any) -> bool:
    found = await connection.fetchval(
        "SELECT true FROM billing.payment_events WHERE order_id = $1 AND kind = $2 LIMIT 1",
        order_id,
        EventKind.DISPUTE_OPENED.value,
    )
    return bool(found)


def _mismatch(order: Order, event: WebhookEvent) -> str | None:
    """Why the event cannot be about this order, or None."""
    if order.provider != event.provider:
        return f"the order was placed with {order.provider}, the event came from {event.provider}"
    if (
        event.provider_payment_id is not None
        and order.provider_payment_id is not None
        and event.provider_payment_id != order.provider_payment_id
    ):
        return "the event's payment id is not the order's"
    if (
        event.payment_reference is not None
        and order.payment_reference is not None
        and event.payment_reference != order.payment_reference
    ):
        return "the event's payment reference is not the order's"
    if event.kind is EventKind.PAID:
        if event.amount_minor != order.amount_minor:
            return f"paid {event.amount_minor} minor units, the order is for {order.amount_minor}"
        if event.currency != order.currency:
            return f"paid in {event.currency}, the order is in {order.currency}"
    elif event.currency is not None and event.currency != order.currency:
        return f"the event is in {event.currency}, the order in {order.currency}"
    return None


def report(metrics: PaymentMetrics, event: WebhookEvent, result: Outcome) -> None:
    context = {
        "provider": event.provider,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "order_id": None if result.order is None else str(result.order.id),
        "outcome": result.outcome,
        "detail": result.detail,
    }
    if result.alert:
        metrics.alerts.labels(event.provider, result.outcome).inc()
        _log.error("payment event credits nothing: it does not match its order", extra=context)
    elif result.outcome == "unhandled":
        _log.warning("payment event recorded but not acted on", extra=context)
    elif result.credited:
        metrics.credited.labels(event.provider).inc()
        _log.info("top-up credited", extra=context)
    elif result.moved:
        _log.warning("payment reversed", extra=context)


async def refresh_balance(holds: Holds, connection: Any, order: Order) -> None:
    """After commit: the gateways' holds see the new balance (a failure here only
    delays that; the credit is committed and the next change installs it)."""
    try:
        await snapshots.install(connection, holds, order.user_id)
    except (RedisError, OSError):
        _log.warning(
            "balance snapshot not refreshed after a top-up", extra={"order_id": str(order.id)}
        )
