"""PostgreSQL and Redis for `tollgate dev`: use what answers, else start our own.

When the configured servers answer, they are used as they are. When nothing
answers and the server binaries are installed, private instances are started
under the data directory on their own ports (and stopped with the stack).
When the binaries are missing, the error says which package to install.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from yarl import URL

from services.cli import children

PRIVATE_POSTGRES_PORT = 54329
PRIVATE_REDIS_PORT = 63799


class StoreError(Exception):
    """A store is neither reachable nor startable; the message says what to do."""


@dataclass
class Store:
    url: str
    server: children.Child | None = None  # None: a server we found, not ours to stop
    log: Path | None = None

    async def stop(self, kill_now: asyncio.Event | None = None) -> None:
        """Stop a server we started (bounded: SIGKILL after a grace time)."""
        if self.server is not None:
            await children.stop([self.server], kill_now=kill_now)

    def failure(self) -> str | None:
        """Why our server is gone (its exit status and last log lines), if it is."""
        if self.server is None or self.server.running:
            return None
        tail = self.log.read_text(errors="replace").splitlines()[-5:] if self.log else []
        lines = "".join(f"\n  {line}" for line in tail)
        return f"exited with status {self.server.process.returncode}{lines}"


async def postgres_answers(dsn: str) -> bool:
    server = str(URL(dsn).with_path("/postgres"))
    try:
        connection: Any = await asyncpg.connect(server, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def redis_answers(url: str) -> bool:
    client = aioredis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


def _postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def start_postgres(data_dir: Path, port: int = PRIVATE_POSTGRES_PORT) -> Store:
    """A private PostgreSQL in `data_dir`/postgres (created on first use), on `port`.

    Its stop signal is SIGINT, PostgreSQL's fast shutdown: SIGTERM would wait
    for every client to disconnect first.
    """
    initdb, postgres = _postgres_binary("initdb"), _postgres_binary("postgres")
    if initdb is None or postgres is None:
        raise StoreError(
            "PostgreSQL does not answer and is not installed: "
            "install it (Debian/Ubuntu: `apt-get install postgresql`) or set DATABASE_URL"
        )
    folder = (data_dir / "postgres").resolve()
    if not (folder / "PG_VERSION").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [initdb, "-D", str(folder), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
            **_as_postgres_user(folder),
        )
    log = folder / "server.log"
    with log.open("ab") as out:
        server = children.start(
            "postgres",
            [
                postgres,
                "-D",
                str(folder),
                "-p",
                str(port),
                "-k",
                str(folder),
                "-c",
                "listen_addresses=127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=out,
            stop_signal=signal.SIGINT,
            **_as_postgres_user(folder),
        )
    return Store(f"postgresql://postgres@127.0.0.1:{port}/tollgate", server, log)


def _as_postgres_user(folder: Path) -> dict[str, Any]:
    """PostgreSQL refuses to run as root; run it as the `postgres` user then."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise StoreError(
            "running as root needs a `postgres` system user to start PostgreSQL"
        ) from None
    for parent in folder.parents:
        if os.stat(parent).st_mode & 0o001 == 0 and os.stat(parent).st_uid != account.pw_uid:
            raise StoreError(
                f"PostgreSQL runs as the `postgres` user, who cannot enter {parent}: "
                "set TOLLGATE_DATA_DIR to a directory it can reach"
            )
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, account.pw_uid, account.pw_gid)
    return {"user": account.pw_uid, "group": account.pw_gid}


def start_redis(data_dir: Path, port: int = PRIVATE_REDIS_PORT) -> Store:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StoreError(
            "Redis does not answer and is not installed: "
            "install it (Debian/Ubuntu: `apt-get install redis-server`) or set REDIS_URL"
        )
    folder = (data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    with log.open("ab") as out:
        server = children.start(
            "redis",
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Store(f"redis://127.0.0.1:{port}/0", server, log)


async def wait_until(check: Any, store: Store, what: str, seconds: float = 30) -> None:
    """Wait until `store` answers `check`; a server that exits meanwhile fails at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check(store.url):
            return
        if (failure := store.failure()) is not None:
            raise StoreError(f"{what} {failure}")
        await asyncio.sleep(0.2)
    raise StoreError(f"{what} did not start within {seconds:.0f} s; see {store.log}")


async def ensure(database_url: str, redis_url: str, data_dir: Path) -> tuple[Store, Store]:
    """Stores that answer: the configured ones, or private ones started now.

    A private server that does not come up is stopped before the error is raised.
    """
    started: list[Store] = []
    try:
        if await postgres_answers(database_url):
            postgres = Store(database_url)
        else:
            postgres = start_postgres(data_dir)
            started.append(postgres)
            await wait_until(postgres_answers, postgres, "PostgreSQL")
        if await redis_answers(redis_url):
            redis_store = Store(redis_url)
        else:
            redis_store = start_redis(data_dir)
            started.append(redis_store)
            await wait_until(redis_answers, redis_store, "Redis")
    except BaseException:
        for store in started:
            await store.stop()
        raise
    return postgres, redis_store
