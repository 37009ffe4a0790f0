"""Background tasks that are never garbage-collected mid-flight.

`asyncio.create_task` keeps only a weak reference to its task; a task nobody
holds can vanish. `spawn` keeps each task in a set until it finishes and logs
an exception nobody awaited. The lint configuration bans the bare call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_log = logging.getLogger(__name__)
_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], *, name: str, awaited: bool = False) -> asyncio.Task[T]:
    """A task kept until it finishes. A failure is logged, unless `awaited`: its
    caller awaits it and handles what it raises (a relayed upstream failure is
    an answer, not an error of the gateway)."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_running.discard if awaited else _finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _log.error(
            "background task failed", exc_info=task.exception(), extra={"task": task.get_name()}
        )


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def finish_within(task: asyncio.Task[Any], seconds: float) -> None:
    """Wait up to `seconds` for a task told to stop to end by itself, then cancel it
    (a background loop's last piece of work gets its grace time, never more)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
