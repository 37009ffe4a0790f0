"""CPU time, read from /proc: what a target spends per request, and how busy the machine was.

A target's CPU is the user + system time of its processes (and of whatever
they forked) over one load, divided by the requests that load completed: a
figure that does not move with how much of the machine the other processes
took, unlike requests per second. The machine's busy share is
`1 - (idle + iowait) / total` over the same load, from `/proc/stat`: at 100%
the load was bound by the machine's cores, not by the target. Linux only,
as the bench is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.overhead.memory import with_descendants

_TICK_SECONDS = 1.0 / os.sysconf("SC_CLK_TCK")


def process_seconds(pids: Iterable[int]) -> float:
    """User + system seconds the processes (and their descendants) have used so far."""
    ticks = 0
    for pid in with_descendants(pids):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The name (field 2) may hold spaces: count fields after its closing parenthesis.
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks * _TICK_SECONDS


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    counts = [int(value) for value in first[1:9]]
    total = sum(counts)
    return total - counts[3] - counts[4], total


@dataclass(frozen=True, kw_only=True)
class CpuUse:
    process_seconds: float  # the target's processes, over the load
    machine_busy: float  # 0..1, every CPU of the machine, over the load

    def ms_per(self, requests: int) -> float:
        return 1000 * self.process_seconds / requests if requests else 0.0


class CpuMeter:
    """`meter = CpuMeter(pids)`, the load, then `meter.used()`."""

    def __init__(self, pids: Iterable[int]) -> None:
        self._pids = list(pids)
        self._process = process_seconds(self._pids)
        self._busy, self._total = machine_ticks()

    def used(self) -> CpuUse:
        busy, total = machine_ticks()
        spent = total - self._total
        return CpuUse(
            process_seconds=process_seconds(self._pids) - self._process,
            machine_busy=(busy - self._busy) / spent if spent else 0.0,
        )
