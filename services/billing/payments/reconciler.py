"""The payment reconciler: orders left pending are asked about at their provider.

A webhook can be lost (the endpoint down for longer than the provider
retries, a secret misconfigured for a while). Every `PAYMENT_RECONCILE_SECONDS`
(60) one billing process (a PostgreSQL advisory lock: one at a time across
replicas) takes the orders still `pending` more than
`PAYMENT_RECONCILE_AFTER_SECONDS` (300) after they were created and asks
their provider (`fetch_payment`) what became of each payment:

- paid: the order is credited through exactly the path a webhook takes
  (`webhooks.process`, one fulfilment function, as Stripe's fulfilment guide
  has it), as a synthetic event `reconcile:<order id>:paid` that is recorded
  like any other: the same checks (provider, payment id, amount, currency),
  the same one credit per order, whichever of the webhook and the reconciler
  comes first;
- expired or failed: the order is closed (a late capture can still credit it);
- still pending, or the provider unreachable: left for the next round.

Then, from providers that can list their events (Stripe), the events of the
last three days billing never recorded (a refund or dispute whose webhook was
lost, too) are processed as if their webhooks had come (`sweep_events`).

An order with no provider payment id (its checkout call never answered, the
process stopped in between) cannot be looked up; it is closed as `expired`
once a day has passed (`NO_CHECKOUT_AFTER`); a webhook naming it by its order
id still credits it afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from services.billing.payments import orders, webhooks
from services.billing.payments.orders import Status
from services.billing.payments.provider import (
    EventKind,
    EventSource,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    WebhookEvent,
)
from services.billing.payments.setup import PAYMENT_METRICS, PROVIDERS
from shared import tasks
from shared.errors import RetryLater
from shared.holds import Holds
from shared.service import DB, REDIS

_log = logging.getLogger(__name__)

LOCK_KEY = 0x70_61_79_72  # one reconciler at a time, across billing processes
NO_CHECKOUT_AFTER = timedelta(days=1)
LOOKBACK = timedelta(days=3)  # how far back undelivered events are looked for
BATCH = 100

_KINDS = {
    PaymentStatus.PAID: EventKind.PAID,
    PaymentStatus.EXPIRED: EventKind.EXPIRED,
    PaymentStatus.FAILED: EventKind.PAYMENT_FAILED,
}


@dataclass(frozen=True, slots=True)
class Settled:
    order_id: str
    outcome: str  # a payment_events outcome, "pending", "unreachable" or "no_checkout"


async def reconcile_pending(
    connection: Any,
    providers: Mapping[str, PaymentProvider],
    holds: Holds | None,
    *,
    older_than: timedelta,
    metrics: Any = None,
) -> list[Settled]:
    """One round over the pending orders older than `older_than`."""
    rows = await connection.fetch(
        "SELECT id FROM billing.orders WHERE status = 'pending' "
        "AND created_at < now() - $1::interval ORDER BY created_at LIMIT $2",
        older_than,
        BATCH,
    )
    settled: list[Settled] = []
    for row in rows:
        order = await orders.get(connection, row["id"])
        if order is None or order.status is not Status.PENDING:
            continue
        provider = providers.get(order.provider)
        if provider is None:
            continue
        settled.append(await _settle(connection, provider, order, holds, metrics))
    return settled


async def sweep_events(
    connection: Any,
    providers: Mapping[str, PaymentProvider],
    holds: Holds | None,
    *,
    now: float,
    older_than: timedelta,
    metrics: Any = None,
) -> list[Settled]:
    """Events of the last `LOOKBACK` (and older than `older_than`, so their
    webhooks had their chance) that billing never received, from providers
    that can list them (Stripe); each is processed as if its webhook had come.
    Events already recorded are skipped by their id."""
    done: list[Settled] = []
    for provider in providers.values():
        if not isinstance(provider, EventSource):
            continue
        try:
            events = await provider.fetch_events(
                created_after=int(now - LOOKBACK.total_seconds()),
                created_before=int(now - older_than.total_seconds()) + 1,
            )
        except ProviderError as exc:
            _log.warning(
                "reconciler: events not listed",
                extra={"provider": provider.name, "reason": str(exc)},
            )
            continue
        for event in events:
            try:
                result = await webhooks.process(connection, event)
            except RetryLater:
                done.append(Settled(event.event_id, "not_yet"))
                continue
            if result is None:
                continue  # received before: the common case
            _log.warning(
                "reconciler: an event whose webhook never arrived",
                extra={"provider": event.provider, "event_id": event.event_id},
            )
            if metrics is not None:
                webhooks.report(metrics, event, result)
            if (result.credited or result.moved) and result.order is not None and holds:
                await webhooks.refresh_balance(holds, connection, result.order)
            done.append(Settled(event.event_id, result.outcome))
    return done


async def _settle(
    connection: Any,
    provider: PaymentProvider,
    order: orders.Order,
    holds: Holds | None,
    metrics: Any,
) -> Settled:
    key = str(order.id)
    if order.provider_payment_id is None:
        age = await connection.fetchval("SELECT now() - $1::timestamptz", order.created_at)
        if age > NO_CHECKOUT_AFTER:
            await orders.close(connection, order.id, Status.EXPIRED, None)
            return Settled(key, "no_checkout")
        return Settled(key, "pending")
    try:
        state = await provider.fetch_payment(order.provider_payment_id)
    except ProviderError as exc:
        _log.warning(
            "reconciler: provider unreachable",
            extra={"provider": order.provider, "order_id": key, "reason": str(exc)},
        )
        return Settled(key, "unreachable")
    kind = _KINDS.get(state.status)
    if kind is None:
        return Settled(key, "pending")
    event = WebhookEvent(
        provider=order.provider,
        event_id=f"reconcile:{order.id}:{state.status.value}",
        kind=kind,
        event_type=f"reconciler.{state.status.value}",
        order_id=state.order_id or order.id,
        provider_payment_id=state.provider_payment_id,
        payment_reference=state.payment_reference,
        amount_minor=state.amount_minor,
        currency=state.currency,
    )
    result = await webhooks.process(connection, event)
    if result is None:
        return Settled(key, "duplicate")
    if metrics is not None:
        webhooks.report(metrics, event, result)
    if result.credited and holds is not None:
        await webhooks.refresh_balance(holds, connection, order)
    return Settled(key, result.outcome)


def reconciling(
    interval_seconds: float, after_seconds: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context that runs the reconciler in the background."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = tasks.spawn(
            _loop(app, stop, interval_seconds, timedelta(seconds=after_seconds)),
            name="payment-reconciler",
        )
        yield
        stop.set()
        await task

    return context


async def _loop(
    app: web.Application, stop: asyncio.Event, interval: float, older_than: timedelta
) -> None:
    while not stop.is_set():
        await tasks.sleep_unless(stop, interval)
        if stop.is_set():
            return
        try:
            await run_once(app, older_than)
        except Exception:
            _log.exception("payment reconciler round failed")


async def run_once(app: web.Application, older_than: timedelta) -> list[Settled] | None:
    """One round, if no other process holds the reconciler's lock (None then)."""
    providers = app[PROVIDERS]
    if not providers:
        return []
    pool: Any = app[DB]
    async with pool.acquire() as connection:
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            return None
        try:
            holds = Holds(app[REDIS])
            settled = await reconcile_pending(
                connection, providers, holds, older_than=older_than, metrics=app[PAYMENT_METRICS]
            )
            await sweep_events(
                connection,
                providers,
                holds,
                now=time.time(),
                older_than=older_than,
                metrics=app[PAYMENT_METRICS],
            )
            return settled
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
