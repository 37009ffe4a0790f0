"""Child processes the bench starts, and the loopback ports they listen on.

Rules:

- Every long-running process is a `Child`: started in a session of its own
  (Ctrl-C reaches the driver only, which stops the children in order), its
  output in a log file, and registered with the driver's exit stack the
  moment it exists, so an error or Ctrl-C at any later point still stops it.
- A child is stopped by its own process group id: SIGTERM, then SIGKILL
  after a grace period. Nothing is ever stopped by name.
- Every wait is bounded; a process that does not come up fails the run with
  the tail of its log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
STOP_GRACE = 15.0

Probe = Callable[[], Awaitable[bool]]


class ProcessFailed(Exception):
    """A child did not come up, or a measuring command failed."""


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (bound all at once)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def http_probe(url: str, *, statuses: Sequence[int] = (200,)) -> Probe:
    """A probe that is true once `url` answers a GET with one of `statuses`."""

    async def probe() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response,
            ):
                return response.status in statuses
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    return probe


class Child:
    """One process the bench started and will stop."""

    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._argv = list(argv)
        self._env = env
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ProcessFailed(f"{self.name} is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self, probe: Probe, within: float = START_TIMEOUT) -> None:
        """Start the process and wait until `probe` is true."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv,
                cwd=ROOT,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + within
        while not await probe():
            if self._process.returncode is not None:
                raise ProcessFailed(f"{self.name} exited with {self._process.returncode}\n{self}")
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} not ready after {within:.0f} s\n{self}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM to the child's process group, SIGKILL after the grace period."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
        finally:
            # Anything the child itself started and left behind in its group.
            _signal_group(process.pid, signal.SIGKILL)

    def __str__(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        return "\n".join(f"  {self.name} | {line}" for line in lines[-30:])


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the child's own session: its group id is its pid
    except ProcessLookupError:
        pass


async def started(
    exits: AsyncExitStack, child: Child, probe: Probe, within: float = START_TIMEOUT
) -> Child:
    """Start `child`, registering its stop with `exits` before anything can fail."""
    exits.push_async_callback(child.stop)
    await child.start(probe, within)
    return child


async def output_of(
    argv: Sequence[str],
    *,
    within: float,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> str:
    """Run a command to its end; its standard output, or ProcessFailed."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ProcessFailed(f"{argv[0]} still running after {within:.0f} s") from None
    except BaseException:
        # Cancelled (Ctrl-C): do not leave the load generator running.
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        raise ProcessFailed(
            f"{argv[0]} exited with {process.returncode}: {err.decode(errors='replace')[-2000:]}"
        )
    return out.decode(errors="replace")
