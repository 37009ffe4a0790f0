"""The hold off the latency path (DESIGN 13, last point).

A request whose user's last-known available balance (what the place script
answered after this gateway's last hold for them: `metering/headroom.py`) is
at least `GATEWAY_OPTIMISTIC_HOLD_MULTIPLE` times its worst case, and each of
whose limits (and key budget) had room for that many such requests at the
last look, sends its hold and its upstream request together, instead of one
after the other: the Redis round trip and the provider's connect and first
byte overlap. A thin balance or limit (or one this gateway has not seen yet,
or any refusal since, or the setting at 0) keeps the order: hold first.

Invariant 4 holds either way, because the hold's script alone decides, and
nothing reaches the client before it has: the upstream answer (its status,
headers and first chunk, or its whole body) waits in this process until the
hold is confirmed. A refused hold, by the balance (402), a limit (429) or the
key's budget (402), cancels the upstream request (its connection is closed:
the provider sees it cancelled) and answers as the thin path would. The
caller is not charged (nothing was delivered; the provider may have read the
prompt: that cost is the operator's) and no usage event is published: the
refusal is counted (`tollgate_optimistic_hold_refused`) and logged, by the
usage publisher. Metering unavailable (503) cancels it too, and is recorded
as on the thin path (a rejected request, not billed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from services.gateway.metering.usage_result import Meter
from shared import tasks
from shared.errors import PaymentRequired, TooManyRequests

T = TypeVar("T")
_log = logging.getLogger("tollgate.relay")


async def together(
    hold: Callable[[], Awaitable[None]],
    open_upstream: Callable[[], Coroutine[Any, Any, T]],
    abandon: Callable[[T], None],
    meter: Meter,
) -> T:
    """Start the upstream request, place the hold meanwhile; the upstream's answer
    once the hold is confirmed. A refused hold (or a client gone) cancels it, or
    `abandon`s the answer it already has (a stream's connection is closed)."""
    upstream: asyncio.Task[T] = tasks.spawn(
        open_upstream(), name="optimistic-upstream", awaited=True
    )
    try:
        await hold()
    except BaseException as refused:
        upstream.cancel()
        await asyncio.gather(upstream, return_exceptions=True)
        if not upstream.cancelled() and upstream.exception() is None:
            abandon(upstream.result())  # it answered before the hold did
        # Not billed: nothing was delivered, and no hold covers it.
        meter.reached_upstream = False
        meter.estimated_usage = None
        if isinstance(refused, PaymentRequired | TooManyRequests):  # refused, not 503
            meter.upstream_cancelled = True
        raise
    return await upstream
