"""Billing's progress as this gateway last read it: the purge time for holds.

Billing publishes its watermark in Redis (`shared.holds.WATERMARK_KEY`,
`services/billing/progress.py`): every usage event older than it is charged.
A hold may only expire once the watermark has passed its expiry, so the place
script is given `purge_before(now, watermark)` (`shared.holds`). Reading the
key on every request would cost a round trip; instead a background task reads
it about every second and the request path uses the last value read, which
is never newer than the truth: a stale watermark only keeps holds longer.

Rules: the value kept only moves forward (a Redis that lost the key does not
make the gateway forget what billing had committed); until a first value is
read, nothing expires; a read that fails keeps the last value and is tried
again on the next tick.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from shared.holds import purge_before, read_watermark
from shared.redis_conn import Redis
from shared.tasks import sleep_unless

READ_EVERY_SECONDS = 1.0
_log = logging.getLogger(__name__)


class BillingProgress:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self.watermark_ms: int | None = None

    def saw(self, watermark_ms: int | None) -> None:
        """Take a watermark read from Redis (kept only if it moves forward)."""
        if watermark_ms is not None and (
            self.watermark_ms is None or watermark_ms > self.watermark_ms
        ):
            self.watermark_ms = watermark_ms

    def purge_before(self, now_ms: int) -> int:
        """Holds whose expiry is below this may go (0: none)."""
        return purge_before(now_ms, self.watermark_ms)

    async def refresh(self) -> None:
        self.saw(await read_watermark(self._redis))

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: read the watermark about every second."""
        failing = False
        while not stop.is_set():
            try:
                await self.refresh()
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:  # once per outage, not once a second
                    _log.warning("billing's watermark not read", extra={"reason": str(exc)})
                failing = True
            await sleep_unless(stop, READ_EVERY_SECONDS)
