"""Billing's side of the usage stream: charge each batch, then settle its holds.

Order matters and is kept here: the charges commit in PostgreSQL first
(`charge_batch`, idempotent by event id); then every event's hold is settled
in Redis together with its user's committed balance (never older than the
snapshot already there); only then does the consumer acknowledge the batch.
A crash between any two steps replays the batch: the charge is a no-op the
second time, and the settlement is repeated with the balance read again.
Events arrive decoded (`shared.usage_event`); a batch that fails on its data
is split by the stream consumer until the event at fault is set aside.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from services.billing import snapshots
from services.billing.charging import charge_batch
from shared.holds import Holds, Snapshot, settle_many
from shared.usage_event import UsageEvent


class ChargeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.charged = Counter(
            "tollgate_billing_charged_usd", "USD charged to user balances.", registry=registry
        )
        self.written_off = Counter(
            "tollgate_billing_written_off_usd",
            "USD of usage above a balance's floor, written off.",
            registry=registry,
        )


class BillingConsumer:
    def __init__(self, db: Any, holds: Holds, metrics: ChargeMetrics) -> None:
        self._db = db
        self._holds = holds
        self._metrics = metrics

    async def handle(self, events: list[UsageEvent]) -> None:
        result = await charge_batch(self._db, events)
        for charged in result.charged:
            self._metrics.charged.inc(float(charged.charged))
            self._metrics.written_off.inc(float(charged.written_off))
        await settle_many(self._holds, await self._settlements(events))

    async def _settlements(
        self, events: Sequence[UsageEvent]
    ) -> list[tuple[uuid.UUID, str | None, Snapshot]]:
        by_user: dict[uuid.UUID, list[str | None]] = {}
        for event in events:
            by_user.setdefault(event.user_id, []).append(event.hold_id)
        found = await snapshots.read(self._db, by_user)
        return [
            (user_id, hold_id, found.get(user_id, snapshots.ZERO))
            for user_id, hold_ids in by_user.items()
            for hold_id in hold_ids
        ]
