"""Real child processes for the tests that need them: services, a private Redis
and a private PostgreSQL.

A service runs as `python -m services.<name>` with the environment an operator
would give it; Redis runs as `redis-server` on its own port and data
directory. Each can be killed with SIGKILL (no shutdown code runs) and started
again on the same port (and for Redis the same directory, so its append-only
file is replayed). PostgreSQL is started as `tollgate dev` starts a private
one, stopped with its fast shutdown and started again on the same directory.
Every wait is bounded; output goes to a log file whose tail is shown when a
process does not come up.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import IO

import aiohttp
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.cli import local_stores

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 10.0


class ProcessFailed(AssertionError):
    """A child process did not come up (or died while we waited for it)."""


class ChildProcess:
    """One child process, started, killed and restarted by the test."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self.kills = 0
        self.starts = 0
        self._argv = argv
        self._env = env
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start it and wait (bounded) until it answers."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        out = self._open_log()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv,
                cwd=ROOT,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            out.close()
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while not await self.ready():
            if self._process.returncode is not None:
                raise ProcessFailed(f"{self.name} exited with {self._process.returncode}\n{self}")
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} not ready after {START_TIMEOUT} s\n{self}")
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL, and wait until it is gone."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            self.kills += 1
        await asyncio.wait_for(process.wait(), EXIT_TIMEOUT)
        self._process = None

    def freeze(self, frozen: bool) -> None:
        """SIGSTOP (or SIGCONT): a frozen process does nothing until it is thawed or killed."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    async def ready(self) -> bool:
        raise NotImplementedError

    def _open_log(self) -> IO[bytes]:
        out = self.log.open("ab")
        out.write(f"---- start {self.starts + 1} of {self.name}\n".encode())
        out.flush()
        return out

    def __str__(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        return "\n".join(lines[-40:])


class ServiceProcess(ChildProcess):
    """A Tollgate service: ready when its `/healthz` answers 200."""

    def __init__(self, service: str, port: int, *, env: dict[str, str], log: Path) -> None:
        super().__init__(service, [sys.executable, "-m", f"services.{service}"], env=env, log=log)
        self.url = f"http://127.0.0.1:{port}"

    async def ready(self) -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(total=1)
                ) as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False


class RedisProcess(ChildProcess):
    """A private redis-server; with `persistent`, AOF with `appendfsync always`."""

    def __init__(self, port: int, directory: Path, *, persistent: bool, log: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ProcessFailed("redis-server is not installed")
        directory.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "yes" if persistent else "no",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
        ]
        super().__init__("redis", argv, env={}, log=log)
        self.url = f"redis://127.0.0.1:{port}/0"

    async def ready(self) -> bool:
        client = aioredis.from_url(
            self.url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False  # refused, or still loading its append-only file
        finally:
            await client.aclose()


class PostgresProcess:
    """A private PostgreSQL on its own port and data directory, started the way
    `tollgate dev` starts one (`services.cli.local_stores`: initdb on first
    start, run as the `postgres` user when the tests run as root). `stop` is
    PostgreSQL's fast shutdown (what a restart does); `start` again reuses the
    directory, so the data is all still there.

    The directory must be one the `postgres` user can enter: not pytest's
    `tmp_path`, which lives under a directory only root may enter.
    """

    def __init__(self, port: int, directory: Path) -> None:
        self.directory = directory
        self.port = port
        self.stops = 0
        self._store: local_stores.Store | None = None

    @property
    def url(self) -> str:
        """The `tollgate` database on this server (created by the test)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/tollgate"

    @property
    def log(self) -> Path:
        return self.directory / "postgres" / "server.log"

    async def start(self) -> None:
        if self._store is not None:
            raise RuntimeError("postgres is already running")
        self._store = local_stores.start_postgres(self.directory, self.port)
        try:
            await local_stores.wait_until(
                local_stores.postgres_answers, self._store, "PostgreSQL", START_TIMEOUT
            )
        except local_stores.StoreError as exc:
            await self.stop()
            raise ProcessFailed(str(exc)) from None

    async def stop(self) -> None:
        """Fast shutdown (SIGKILL if it takes longer than a few seconds)."""
        store, self._store = self._store, None
        if store is not None:
            await store.stop()
            self.stops += 1
