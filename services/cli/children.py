"""The processes `tollgate dev` starts, and stopping them whatever state they are in.

Each child runs in a session (and process group) of its own, so Ctrl-C in the
terminal reaches dev only, and dev stops the services before the stores they
use. A child is waited for by polling its exit status, never by reading its
pipes to the end: an exited child whose pipe is still open (a reader that
stopped, a grandchild holding it) must not hang the stop.

Stopping (`stop`) is bounded: the child's stop signal goes to its whole
group, followed by SIGCONT so that a child stopped with SIGSTOP wakes up to
handle it; whatever has not exited after `grace` seconds (or at once, when
`kill_now` is set: a second Ctrl-C) gets SIGKILL, which nothing can ignore.
The group is signalled even when the child itself is gone: what it left
behind goes too. (The group's id is the child's pid, which Linux does not
give to a new process while the group has a member.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

POLL_SECONDS = 0.05
GRACE_SECONDS = 5.0
KILL_WAIT_SECONDS = 2.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: signal.Signals = signal.SIGTERM

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, signum: signal.Signals) -> None:
        """`signum` to the child's process group (it leads one: see `start`), which
        outlives the child while a grandchild it left runs."""
        self.process.poll()
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def start(
    name: str,
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
    user: int | None = None,
    group: int | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Child:
    """Start `argv` in a session of its own, its standard input empty."""
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        user=user,
        group=group,
        start_new_session=True,
    )
    return Child(name, process, stop_signal)


async def exited(children: Iterable[Child], seconds: float | None = None) -> bool:
    """Wait until every child has exited (True), or `seconds` have passed (False)."""
    waiting = list(children)
    deadline = None if seconds is None else time.monotonic() + seconds
    while any(child.running for child in waiting):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


async def first_exit(children: list[Child]) -> list[Child]:
    """Wait until one child exits; those that have."""
    while True:
        gone = [child for child in children if not child.running]
        if gone:
            return gone
        await asyncio.sleep(POLL_SECONDS)


async def stop(
    children: list[Child], *, grace: float = GRACE_SECONDS, kill_now: asyncio.Event | None = None
) -> list[Child]:
    """Stop every child within about `grace` seconds; those still running after SIGKILL."""
    for child in children:
        child.signal_group(child.stop_signal)
        child.signal_group(signal.SIGCONT)
    waiting = asyncio.ensure_future(exited(children, grace))
    killing = asyncio.ensure_future((kill_now or asyncio.Event()).wait())
    try:
        await asyncio.wait([waiting, killing], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        killing.cancel()
    for child in children:
        child.signal_group(signal.SIGKILL)
    await exited(children, KILL_WAIT_SECONDS)
    return [child for child in children if child.running]
