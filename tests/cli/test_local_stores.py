"""The private PostgreSQL and Redis `tollgate dev` starts when none answers: they
come up on the ports asked for, and they are stopped, frozen ones included.

Real servers on free ports and in directories of their own (one the
`postgres` user can enter: not pytest's `tmp_path`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli import local_stores
from tests.ports import free_ports

BOUND = 60.0  # a start or a stop that takes longer than this is a hang


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="tollgate-stores-"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_private_stores_start_answer_and_stop_even_when_frozen(data_dir: Path) -> None:
    pg_port, redis_port = free_ports(2)
    postgres = local_stores.start_postgres(data_dir, pg_port)
    redis = local_stores.start_redis(data_dir, redis_port)
    try:
        await asyncio.wait_for(
            local_stores.wait_until(local_stores.postgres_answers, postgres, "PostgreSQL"), BOUND
        )
        await asyncio.wait_for(
            local_stores.wait_until(local_stores.redis_answers, redis, "Redis"), BOUND
        )
        assert postgres.url == f"postgresql://postgres@127.0.0.1:{pg_port}/tollgate"
        for store in (postgres, redis):
            assert store.server is not None
            os.kill(store.server.process.pid, signal.SIGSTOP)
        await asyncio.wait_for(redis.stop(), BOUND)
        await asyncio.wait_for(postgres.stop(), BOUND)
        assert postgres.server is not None and redis.server is not None
        assert not postgres.server.running and not redis.server.running
        assert not await local_stores.postgres_answers(postgres.url)
        assert not await local_stores.redis_answers(redis.url)
    finally:
        for store in (postgres, redis):
            if store.server is not None and store.server.running:
                store.server.signal_group(signal.SIGKILL)
                store.server.process.wait(10)


async def test_a_private_postgres_that_cannot_start_fails_at_once_with_its_log(
    data_dir: Path,
) -> None:
    (port,) = free_ports(1)
    first = local_stores.start_postgres(data_dir, port)
    try:
        await asyncio.wait_for(
            local_stores.wait_until(local_stores.postgres_answers, first, "PostgreSQL"), BOUND
        )
        # A second server on the same directory is refused by PostgreSQL (its lock file).
        second = local_stores.start_postgres(data_dir, free_ports(1)[0])
        with pytest.raises(local_stores.StoreError, match="PostgreSQL exited with status"):
            await asyncio.wait_for(
                local_stores.wait_until(local_stores.postgres_answers, second, "PostgreSQL"),
                BOUND,
            )
    finally:
        await asyncio.wait_for(first.stop(), BOUND)
