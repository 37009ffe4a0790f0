"""Keeping the holds of running requests from expiring while they run.

A hold expires a TTL after it was placed, so that one left behind by a
gateway that died frees its money on its own (once billing's watermark has
also passed that expiry: `shared.holds`). A request may run longer than
that: a long stream (64,000 output tokens at 50 a second is 21 minutes) or a
slow whole answer. Its hold must not expire while it runs, or the money the
request may still cost is free to be spent again by the user's other
requests, and billing writes off what the balance then cannot pay.

The keeper knows the holds of this process's running requests. Every third
of the TTL it renews those placed (or last renewed) at least that long ago
to a full TTL from now, in one round trip for all of them (`ZADD XX GT`: a
hold that is already gone is not brought back, an expiry never moves
earlier). A request shorter than a third of the TTL costs nothing but a dict
entry. When the request ends its hold is no longer renewed: billing settles
it when it charges the request's event, which entered the stream before the
hold's expiry, so the watermark cannot pass that expiry first. A renewal that Redis
does not answer is tried again on the next tick, which still comes before the
hold expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from redis.exceptions import RedisError

from shared.holds import Holds
from shared.limits import SLOT_TTL_MS, slot_renewals
from shared.redis_batch import CommandBatcher
from shared.tasks import sleep_unless

_log = logging.getLogger(__name__)


class HoldKeeper:
    def __init__(self, holds: Holds, batch: CommandBatcher, slot_ttl_ms: int = SLOT_TTL_MS) -> None:
        self._holds = holds
        self._batch = batch
        self._every_ms = holds.ttl_ms // 3
        self.slot_ttl_ms = slot_ttl_ms
        self._slot_every_ms = slot_ttl_ms // 3
        self._open: dict[str, tuple[uuid.UUID, int]] = {}  # hold id -> (user, renewed at, ms)
        self._slots: dict[str, tuple[tuple[str, ...], int]] = {}  # hold id -> (keys, renewed)

    def opened(
        self, user_id: uuid.UUID, hold_id: str, placed_ms: int, slots: tuple[str, ...] = ()
    ) -> None:
        self._open[hold_id] = (user_id, placed_ms)
        if slots:
            self._slots[hold_id] = (slots, placed_ms)

    def closed(self, hold_id: str) -> None:
        self._open.pop(hold_id, None)
        if self._slots:
            self._slots.pop(hold_id, None)

    async def renew_due(self, now_ms: int | None = None) -> int:
        """Renew every open hold placed or renewed a third of the TTL ago, and every
        running request's slots renewed a third of the slot TTL ago; how many holds."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        due = [
            (hold_id, user_id)
            for hold_id, (user_id, renewed_ms) in self._open.items()
            if now_ms - renewed_ms >= self._every_ms
        ]
        slots_due = [
            (hold_id, slots)
            for hold_id, (slots, renewed_ms) in self._slots.items()
            if now_ms - renewed_ms >= self._slot_every_ms
        ]
        if not due and not slots_due:
            return 0
        expires_ms = now_ms + self._holds.ttl_ms
        replies: list[asyncio.Future[Any]] = [
            self._batch.execute(*self._holds.renew_command(user_id, hold_id, expires_ms))
            for hold_id, user_id in due
        ]
        slot_replies = [
            asyncio.gather(
                *(
                    self._batch.execute(*command)
                    for command in slot_renewals(
                        slots, hold_id, now_ms + self.slot_ttl_ms, self.slot_ttl_ms
                    )
                )
            )
            for hold_id, slots in slots_due
        ]
        results = await asyncio.gather(*replies, return_exceptions=True)
        slot_results = await asyncio.gather(*slot_replies, return_exceptions=True)
        failure: BaseException | None = None
        renewed = 0
        for (hold_id, user_id), result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                failure = result
            else:
                renewed += 1
                if hold_id in self._open:  # still running
                    self._open[hold_id] = (user_id, now_ms)
        for (hold_id, slots), slot_result in zip(slots_due, slot_results, strict=True):
            if isinstance(slot_result, BaseException):
                failure = slot_result
            elif hold_id in self._slots:
                self._slots[hold_id] = (slots, now_ms)
        if failure is not None:
            raise failure  # the ones not renewed are due again on the next tick
        return renewed

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: renew what is due, a few times per renewal interval."""
        while not stop.is_set():
            await sleep_unless(stop, min(self._every_ms, self._slot_every_ms) / 4000)
            try:
                await self.renew_due()
            except (RedisError, OSError) as exc:
                _log.warning("holds not renewed; trying again", extra={"reason": str(exc)})
