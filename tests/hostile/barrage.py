"""Sending a route's probes through the gateway and counting what comes back.

A few connections at a time (`PARALLEL`), each probe on its own connection;
every answer goes into the tally, and the failures of this route and caller
are returned for the test to report.
"""

from __future__ import annotations

import asyncio

from tests.hostile.probes import Probe
from tests.hostile.stack import HostileStack
from tests.hostile.tally import TALLY, Failure
from tests.hostile.wire import exchange

PARALLEL = 4


async def fire(stack: HostileStack, route: str, caller: str, probes: list[Probe]) -> list[Failure]:
    host = f"{stack.host}:{stack.port}".encode()
    gate = asyncio.Semaphore(PARALLEL)
    found: list[Failure] = []

    async def one(probe: Probe) -> None:
        async with gate:
            outcome = await exchange(stack.host, stack.port, probe.raw(host), head_only=probe.head)
        if TALLY.record(route, caller, outcome, probe.kind, probe.may_close):
            found.append(TALLY.failures[-1])

    await asyncio.gather(*(one(probe) for probe in probes))
    return found


def report(failures: list[Failure], limit: int = 8) -> str:
    lines = [f"{len(failures)} hostile requests failed:"]
    lines += [f"  {failure}" for failure in failures[:limit]]
    if len(failures) > limit:
        lines.append(f"  and {len(failures) - limit} more")
    return "\n".join(lines)
