"""Running a service's usage-stream consumer for as long as its app runs.

One cleanup context per consuming service: it starts the consumer loop and
an upkeep loop (stream metrics every few seconds; trimming, where the service
is the one that trims), and stops both on shutdown by setting a flag, waiting
for the batch in hand to finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from redis.exceptions import RedisError

from shared import tasks
from shared.metrics import METRICS
from shared.service import REDIS
from shared.settings import Common
from shared.stream_consumer import (
    ConsumerConfig,
    Handler,
    StreamConsumer,
    StreamMetrics,
    observe,
    trim,
)

UPKEEP_SECONDS = 5.0
_log = logging.getLogger(__name__)

HandlerFactory = Callable[[web.Application], Handler]
Context = Callable[[web.Application], AsyncIterator[None]]


def consuming(group: str, common: Common, make_handler: HandlerFactory, *, trims: bool) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        metrics = StreamMetrics(app[METRICS].registry, group)
        config = ConsumerConfig(group=group, consumer=f"{group}-{common.instance}")
        consumer = StreamConsumer(app[REDIS], config, make_handler(app), metrics)
        stop = asyncio.Event()
        loop = tasks.spawn(consumer.run(stop), name=f"consume-{group}")
        upkeep = tasks.spawn(_upkeep(app, metrics, stop, trims), name=f"upkeep-{group}")
        yield
        stop.set()
        await asyncio.gather(loop, upkeep, return_exceptions=True)

    return context


async def _upkeep(
    app: web.Application, metrics: StreamMetrics, stop: asyncio.Event, trims: bool
) -> None:
    while not stop.is_set():
        try:
            await observe(app[REDIS], metrics)
            if trims:
                await trim(app[REDIS])
        except (RedisError, OSError) as exc:
            _log.warning("stream upkeep skipped", extra={"reason": str(exc)})
        await tasks.sleep_unless(stop, UPKEEP_SECONDS)
