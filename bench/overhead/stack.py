"""Tollgate as an operator runs it, on stores of the bench's own.

Isolation rules (the test suite and the dev stack must not notice a run):

- its own PostgreSQL database (`tollgate_bench_<random>`) on the server,
  created and migrated with the project's migrations, dropped at the end
  (the drop is registered before the database exists);
- its own `redis-server` on a free port, with the production settings of
  `deploy/docker-compose.yml` (AOF, `appendfsync always`; no RDB snapshots)
  except that it does not rewrite its AOF by itself (the consumer-less setup
  lets the stream grow far past what production keeps), its directory in the
  run's temp folder (`--redis-fsync everysec` measures what the per-write
  fsync costs);
- its own ports, `TOLLGATE_ENV=dev` with the data dir in the temp folder
  (dev mode generates the secrets there), and an environment built from
  scratch, so nothing of the caller's `TOLLGATE_*` or `*_URL` leaks in.

Every service is a `tollgate serve <service>` process, ready when `/readyz`
answers 200. Billing and usage start with or without their stream consumers
(`TOLLGATE_CONSUMER`); the gateway runs as one process, or as several
sharing one port (`TOLLGATE_REUSE_PORT`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.overhead.processes import Child, ProcessFailed, http_probe, output_of, started
from shared import migrations
from shared.stream_consumer import USAGE_STREAM

TOLLGATE = str(Path(sys.executable).parent / "tollgate")
INTERNAL = ("auth", "billing", "usage")
CONSUMER_GROUPS = frozenset({"billing", "usage"})
_KEPT_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


@dataclass(frozen=True, kw_only=True)
class Ports:
    auth: int
    billing: int
    usage: int
    gateway: int  # one gateway process
    gateway_pair: int  # two gateway processes sharing the port


@dataclass(frozen=True, kw_only=True)
class GroupState:
    name: str
    lag: int | None  # None: Redis could not tell (entries deleted below the group)
    pending: int


@dataclass(frozen=True, kw_only=True)
class StreamState:
    length: int
    groups: tuple[GroupState, ...]


async def database(exits: AsyncExitStack, server: str) -> str:
    """A fresh, migrated database on `server`; dropped when `exits` closes."""
    name = f"tollgate_bench_{secrets.token_hex(4)}"
    exits.push_async_callback(_drop_database, server, name)
    dsn = f"{server}/{name}"
    await migrations.ensure_database(dsn)
    await migrations.apply(dsn)
    return dsn


async def _drop_database(server: str, name: str) -> None:
    admin: Any = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def redis_server(
    exits: AsyncExitStack, directory: Path, logs: Path, port: int, *, fsync: str = "always"
) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ProcessFailed("redis-server is not installed (apt-get install redis-server)")
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
        "yes",
        "--appendfsync",
        fsync,
        # Setup (a) runs without consumers, as the issue asks, so nothing trims
        # the stream: it grows past 500,000 events, and Redis rewrote its AOF
        # 18 times a run, each a fork copying the whole stream on the same two
        # cores as the loads. In production the consumers keep it short and a
        # rewrite copies little. Every write is still appended and fsync'd.
        "--auto-aof-rewrite-percentage",
        "0",
        "--daemonize",
        "no",
    ]
    url = f"redis://127.0.0.1:{port}/0"
    _make_directory(directory)
    child = Child("redis", argv, env=base_environment(), log=logs / "redis.log")
    await started(exits, child, _redis_probe(url))
    return url


def _make_directory(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)


def _redis_probe(url: str) -> Any:
    async def probe() -> bool:
        client = aioredis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(await client.ping())
        except (aioredis.RedisError, OSError):
            return False
        finally:
            await client.aclose()

    return probe


def base_environment() -> dict[str, str]:
    """PATH, HOME and the locale of the caller; nothing else of its environment."""
    return {name: os.environ[name] for name in _KEPT_ENVIRONMENT if name in os.environ}


class Tollgate:
    """The four services as processes; stopped by the exit stack that started them."""

    def __init__(
        self,
        exits: AsyncExitStack,
        *,
        database_url: str,
        redis_url: str,
        data_dir: Path,
        logs: Path,
        ports: Ports,
        log_level: str,
    ) -> None:
        self._exits = exits
        self._logs = logs
        self.ports = ports
        self.redis_url = redis_url
        self.env = {
            **base_environment(),
            "TOLLGATE_ENV": "dev",
            "TOLLGATE_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "LOG_LEVEL": log_level,
            "PYTHONUNBUFFERED": "1",
            "AUTH_PORT": str(ports.auth),
            "BILLING_PORT": str(ports.billing),
            "USAGE_PORT": str(ports.usage),
            "AUTH_URL": f"http://127.0.0.1:{ports.auth}",
            "BILLING_URL": f"http://127.0.0.1:{ports.billing}",
            "USAGE_URL": f"http://127.0.0.1:{ports.usage}",
        }
        self.children: dict[str, Child] = {}
        self.gateways: list[Child] = []
        self.gateway_pair: list[Child] = []

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def gateway_pair_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway_pair}"

    async def start(self, *, consumers: bool) -> None:
        """Auth, billing and usage, then the gateways: one alone, two sharing a port.

        One at a time: the first to start generates the dev secrets, the
        others read them.
        """
        for service in INTERNAL:
            await self._start(service, service, consumers=consumers)
        self.gateways = [await self._gateway("gateway", self.ports.gateway, reuse=False)]
        self.gateway_pair = [
            await self._gateway(f"gateway-pair-{n}", self.ports.gateway_pair, reuse=True)
            for n in (1, 2)
        ]

    async def restart_consumers(self, *, consumers: bool) -> None:
        """Billing and usage again, with (or without) their stream consumers."""
        for service in ("billing", "usage"):
            await self.children[service].stop()
            await self._start(service, f"{service}-consumers", consumers=consumers)

    async def create_admin(self, email: str, username: str, password: str) -> None:
        """An admin account, the way an operator makes the first one."""
        argv = [TOLLGATE, "admin", "create-user", "--email", email, "--username", username]
        argv += ["--admin", "--password-stdin"]
        await output_of(argv, within=60, env=self.env, stdin=password.encode() + b"\n")

    async def _start(self, service: str, label: str, *, consumers: bool) -> Child:
        env = {**self.env, "TOLLGATE_INSTANCE": f"bench-{service}"}
        env["TOLLGATE_CONSUMER"] = "true" if consumers else "false"
        port = getattr(self.ports, service)
        child = Child(label, [TOLLGATE, "serve", service], env=env, log=self._logs / f"{label}.log")
        await started(self._exits, child, http_probe(f"http://127.0.0.1:{port}/readyz"))
        self.children[service] = child
        return child

    async def _gateway(self, label: str, port: int, *, reuse: bool) -> Child:
        env = {**self.env, "GATEWAY_PORT": str(port), "TOLLGATE_INSTANCE": f"bench-{label}"}
        env["TOLLGATE_REUSE_PORT"] = "true" if reuse else "false"
        child = Child(
            label, [TOLLGATE, "serve", "gateway"], env=env, log=self._logs / f"{label}.log"
        )
        await started(self._exits, child, http_probe(f"http://127.0.0.1:{port}/readyz"))
        return child


async def stream_state(redis_url: str) -> StreamState:
    """The usage stream's length and, per consumer group, its lag and pending count."""
    client = aioredis.from_url(redis_url)
    try:
        length = int(await client.xlen(USAGE_STREAM))
        try:
            groups = await client.xinfo_groups(USAGE_STREAM)
        except aioredis.ResponseError:  # no stream (nothing published yet)
            groups = []
    finally:
        await client.aclose()
    return StreamState(
        length=length,
        groups=tuple(
            GroupState(
                name=_text(group["name"]),
                lag=None if group.get("lag") is None else int(group["lag"]),
                pending=int(group["pending"]),
            )
            for group in groups
        ),
    )


async def wait_drained(redis_url: str, *, limit: float) -> float | None:
    """Seconds until every group has no lag and nothing pending, or None past `limit`."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        state = await stream_state(redis_url)
        names = {group.name for group in state.groups}
        if names >= CONSUMER_GROUPS and all(g.lag == 0 and g.pending == 0 for g in state.groups):
            return time.monotonic() - began
        await asyncio.sleep(0.2)
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
