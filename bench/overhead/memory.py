"""Resident memory of the measured processes, read from /proc.

`VmRSS` of each process (and of whatever it forked: a LiteLLM worker counts
as a process of LiteLLM). `RssSampler` samples every 50 ms while a load runs
and keeps each process's peak; one read before any load gives the idle
figure. Linux only, as the bench is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from shared import tasks

SAMPLE_SECONDS = 0.05
MB = 1024 * 1024


def rss_bytes(pid: int) -> int | None:
    """The process's resident set size, or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return None


def with_descendants(pids: Iterable[int]) -> list[int]:
    """The processes and every process they forked, parents first."""
    found: list[int] = []
    queue = list(pids)
    while queue:
        pid = queue.pop(0)
        if pid in found:
            continue
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                queue.extend(int(child) for child in task.read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def snapshot(pids: Iterable[int]) -> dict[int, int]:
    """Each live process's RSS now, in bytes."""
    found = {pid: rss_bytes(pid) for pid in with_descendants(pids)}
    return {pid: rss for pid, rss in found.items() if rss is not None}


class RssSampler:
    """`async with RssSampler(pids) as peaks:` samples until the block ends."""

    def __init__(self, pids: Iterable[int]) -> None:
        self._pids = list(pids)
        self.peaks: dict[int, int] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RssSampler:
        self._sample()
        self._task = tasks.spawn(self._run(), name="rss-sampler")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        self._sample()

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            await tasks.sleep_unless(self._stop, SAMPLE_SECONDS)

    def _sample(self) -> None:
        for pid, rss in snapshot(self._pids).items():
            self.peaks[pid] = max(rss, self.peaks.get(pid, 0))
