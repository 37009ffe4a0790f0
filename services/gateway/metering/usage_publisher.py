"""Publishing each request's usage event, and shrinking its hold, in one round trip.

The event (docs/usage-event.md) goes to the usage stream with `XADD`; in the
same pipeline (`redis_batch`, shared with other requests' commands of the
loop turn) the request's hold shrinks to what the request cost, so the
unused part is free at once while the cost stays reserved until billing
settles it. A request admitted against limits (`shared/limits.py`) sends the
finish script instead, in that one command: the shrink, its concurrency
slots released, its tokens-per-minute reserve settled to the real count.
When Redis does not answer, the event goes to the durable spool
(the hold then simply waits for billing or its expiry), and the replayer
publishes spooled events in order once Redis is back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from redis.exceptions import NoScriptError, RedisError

from services.gateway.admission.key_budget import BudgetExceeded
from services.gateway.admission.limits import LimitExceeded, used_tokens
from services.gateway.metering.price_cache import PriceCache
from services.gateway.metering.spool import Spool
from services.gateway.metering.usage_result import Outcome, UsageResult
from services.gateway.relay.metrics import RelayMetrics
from shared import tasks
from shared.holds import Holds
from shared.pricing import cost
from shared.redis_batch import CommandBatcher
from shared.redis_conn import Redis
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM
from shared.tasks import sleep_unless

# Refusals that publish no event: by a limit, by a key's budget (DESIGN 13).
_TAKES_NOTHING = frozenset({LimitExceeded.code, BudgetExceeded.code})
SCHEMA_VERSION = 2  # version 2 added price_multiplier
REPLAY_BATCH = 500
_log = logging.getLogger("tollgate.relay")


def usage_event(fields: dict[str, Any], request_cost: Decimal | None) -> dict[str, Any]:
    """Schema version 2 (docs/usage-event.md), from a result's `as_dict()`."""
    event = {
        "v": SCHEMA_VERSION,
        "event_id": fields["request_id"],
        "ts": fields["started_at"],
        **fields,
        "cost": None if request_cost is None else format(request_cost, "f"),
    }
    del event["request_id"], event["started_at"]  # named event_id and ts in an event
    return event


def _tokens_used(result: UsageResult) -> int:
    """What the request counts against tokens per minute, its reserve settled to."""
    tokens = result.tokens
    return used_tokens(
        tokens.input_tokens,
        tokens.cache_read_tokens,
        tokens.cache_write_tokens,
        tokens.output_tokens,
    )


def _failure(reply: asyncio.Future[Any]) -> BaseException | None:
    """Why a command failed; a cancelled one may or may not have run: not a success."""
    if reply.cancelled():
        return asyncio.CancelledError("the command was cancelled")
    return reply.exception()


class UsagePublisher:
    def __init__(
        self,
        redis: Redis,
        holds: Holds,
        spool: Spool,
        prices: PriceCache,
        metrics: RelayMetrics,
        batch: CommandBatcher,
    ) -> None:
        self._redis = redis
        self._batch = batch
        self._holds = holds
        self._spool = spool
        self._prices = prices
        self._metrics = metrics
        # Replies not yet in (and their follow-ups): `drain` waits for them.
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._refusals = 0  # by a limit, since one was last logged
        self._refusal_logged = -math.inf

    def record_soon(self, result: UsageResult) -> None:
        """Record the result once the loop has a Redis write in flight (`after_write`).

        A keep-alive client's next request is already on its way when its
        answer's handler ends: counting, logging and packing the event then
        (about 0.1 ms) delayed that request. Done while the loop waits for a
        Redis reply (the next request's hold, most often), it delays nothing.

        A request admitted against limits is recorded at once, its finish
        written at the next loop turn: its slots must be free before the
        client's next request is read, or a client calling one request after
        another would be refused by a concurrency limit of 1.
        """
        if result.limits:
            self.record(result)
            return
        self._batch.after_write(functools.partial(self.record, result))

    def record(self, result: UsageResult) -> None:
        """Count, log and queue the event and the hold's shrink; return at once.

        The replies are handled by callbacks (an event Redis did not take goes
        to the spool), not by a task per request; `drain` waits for the ones
        in flight at shutdown.
        """
        self._metrics.observe(result)
        if result.upstream_cancelled:
            self._metrics.optimistic_refused.labels(result.endpoint).inc()
            _log.info(
                "hold refused after its upstream request went; cancelled, nothing relayed",
                extra={"request_id": result.request_id, "usage": result.as_dict()},
            )
            return  # nothing delivered, nothing charged: no event (optimistic_hold)
        if result.status is Outcome.REJECTED and result.error_code in _TAKES_NOTHING:
            self._limit_refused(result)
            return
        fields = result.as_dict()
        # its own request id: this runs in whichever request's context the write came from
        _log.info("relayed", extra={"request_id": result.request_id, "usage": fields})
        if result.user_id is None:
            return  # refused before anyone could be charged
        request_cost = self._cost(result)
        data = orjson.dumps(usage_event(fields, request_cost))
        if self._spool.pending:
            self._spool.append(data)  # behind the spooled ones, to keep the order
            self._metrics.spool_depth.set(self._spool.pending)
            if result.limits:  # the hold waits for billing; the slots go now
                self._shrink(result, None, request_cost)
            return
        keep = Decimal(0) if request_cost is None else request_cost
        # Queued together, so they go in the same pipeline (with other requests').
        # linger: the answer is out; they may wait for the next hold's write (one fsync for both)
        published = self._batch.execute("XADD", USAGE_STREAM, "*", EVENT_FIELD, data, linger=True)
        self._follow(published, functools.partial(self._published, data, result.request_id))
        if result.hold_id is not None:
            self._shrink(result, keep, request_cost)

    def _shrink(self, result: UsageResult, keep: Decimal | None, spent: Decimal | None) -> None:
        """Shrink the hold to `keep` (None: leave it); with limits, in the same
        script, release the request's slots, settle its TPM reserves and move its
        key budget's held part to `spent` (the request's cost)."""
        assert result.user_id is not None and result.hold_id is not None
        if result.limits:
            command = self._holds.finish_command(
                result.user_id,
                result.hold_id,
                keep,
                result.limits,
                _tokens_used(result),
                int(time.time() * 1000),
                spent or Decimal(0),
            )
        else:
            assert keep is not None
            command = self._holds.shrink_command(result.user_id, result.hold_id, keep)
        shrunk = self._batch.execute(*command, linger=not result.limits)
        self._follow(shrunk, functools.partial(self._shrunk, result, keep, spent))

    def _limit_refused(self, result: UsageResult) -> None:
        """A limit's refusal took nothing and publishes no event (DESIGN 13: a flood of
        refusals must not flood the stream); counted in metrics, logged one a second."""
        self._refusals += 1
        now = time.monotonic()
        if now - self._refusal_logged < 1:
            return
        _log.info(
            "refused by a limit",
            extra={
                "request_id": result.request_id,
                "usage": result.as_dict(),
                "refusals_since_last_logged": self._refusals,
            },
        )
        self._refusals, self._refusal_logged = 0, now

    async def drain(self) -> None:
        """Wait until every event handed to `record_soon` is published or spooled."""
        self._batch.run_after_write_work()
        while self._in_flight:
            await asyncio.wait(list(self._in_flight))
            await asyncio.sleep(0)  # their callbacks run, and take them out of the set

    def _follow(
        self, reply: asyncio.Future[Any], then: Callable[[asyncio.Future[Any]], None]
    ) -> None:
        reply.add_done_callback(then)
        self._track(reply)

    def _track(self, pending: asyncio.Future[Any]) -> None:
        self._in_flight.add(pending)
        pending.add_done_callback(self._in_flight.discard)

    def _published(self, data: bytes, event_id: str, reply: asyncio.Future[Any]) -> None:
        failure = _failure(reply)
        if failure is None:
            return
        _log.warning(
            "usage stream unreachable; event spooled",
            extra={"event_id": event_id, "reason": str(failure)},
        )
        self._spool.append(data)
        self._metrics.spool_depth.set(self._spool.pending)

    def _shrunk(
        self,
        result: UsageResult,
        keep: Decimal | None,
        spent: Decimal | None,
        reply: asyncio.Future[Any],
    ) -> None:
        """The hold did not shrink: if Redis lost the script, load it and try again.

        Anything else is left to billing, which settles the hold (or it
        expires), and to the slots' TTL.
        """
        failure = _failure(reply)
        if failure is None:
            return
        if isinstance(failure, NoScriptError):
            self._track(tasks.spawn(self._shrink_again(result, keep, spent), name="hold-shrink"))
            return
        _log.warning("hold not shrunk", extra={"hold_id": result.hold_id, "reason": str(failure)})

    async def _shrink_again(
        self, result: UsageResult, keep: Decimal | None, spent: Decimal | None
    ) -> None:
        assert result.user_id is not None and result.hold_id is not None
        try:
            if result.limits:
                await self._holds.finish(
                    result.user_id,
                    result.hold_id,
                    keep,
                    result.limits,
                    _tokens_used(result),
                    int(time.time() * 1000),
                    spent or Decimal(0),
                )
            elif keep is not None:
                await self._holds.shrink(result.user_id, result.hold_id, keep)
        except (RedisError, OSError) as failure:
            _log.warning(
                "hold not shrunk", extra={"hold_id": result.hold_id, "reason": str(failure)}
            )

    def _cost(self, result: UsageResult) -> Decimal | None:
        if result.requested_model is None:
            return None
        price = self._prices.at(result.requested_model, result.started_at)
        if price is None:
            return None
        tokens = result.tokens
        return cost(
            price,
            input_tokens=tokens.input_tokens,
            output_tokens=tokens.output_tokens,
            cache_read_tokens=tokens.cache_read_tokens,
            cache_write_tokens=tokens.cache_write_tokens,
            web_search_requests=tokens.web_search_requests,
            multiplier=result.price_multiplier,
        )

    async def replay(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        """Until `stop`: publish spooled events, oldest file first, in order."""
        while not stop.is_set():
            published = 0
            try:
                published = await self._replay_once()
            except (RedisError, OSError) as exc:
                _log.warning("spool replay waiting for Redis", extra={"reason": str(exc)})
            # Under load, events keep queueing behind the spool while it drains:
            # go again at once while there is progress, or the spool never empties.
            if not (published and self._spool.pending):
                await sleep_unless(stop, interval)

    async def _replay_once(self) -> int:
        total = 0
        for path in self._spool.files():
            with self._spool.claimed(path) as events:
                if not events:
                    continue
                published = 0
                try:
                    while published < len(events):
                        batch = events[published : published + REPLAY_BATCH]
                        async with self._redis.pipeline(transaction=False) as pipe:
                            for event in batch:
                                pipe.xadd(USAGE_STREAM, {EVENT_FIELD: event})
                            await pipe.execute()
                        published += len(batch)
                finally:
                    self._spool.done(path, published)
                    self._metrics.spool_depth.set(self._spool.pending)
                total += published
                _log.info(
                    "spooled events published", extra={"count": published, "spool": path.name}
                )
        return total
