"""Migrations: applied once, in order, under a lock, and never edited after."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from shared import migrations
from shared.migrations import Migration, MigrationError
from tests.conftest import PG_SERVER


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name = f"tollgate_migrations_{secrets.token_hex(4)}"
    admin: Any = await asyncpg.connect(f"{PG_SERVER}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _files() -> list[Migration]:
    return [
        Migration(
            service="demo",
            version=1,
            name="init",
            sql="CREATE SCHEMA demo; CREATE TABLE demo.t (n int);",
        ),
        Migration(service="demo", version=2, name="more", sql="INSERT INTO demo.t VALUES (1);"),
    ]


async def test_the_real_migrations_apply_and_a_second_run_does_nothing(empty_database: str) -> None:
    first = await migrations.apply(empty_database)
    assert {m.service for m in first} == set(migrations.SERVICES)
    assert await migrations.apply(empty_database) == []


async def test_two_processes_at_once_apply_each_file_once(empty_database: str) -> None:
    results = await asyncio.gather(
        migrations.apply(empty_database, _files()), migrations.apply(empty_database, _files())
    )
    assert sorted(len(r) for r in results) == [0, 2]
    connection: Any = await asyncpg.connect(empty_database)
    try:
        assert await connection.fetchval("SELECT count(*) FROM demo.t") == 1
    finally:
        await connection.close()


async def test_a_changed_applied_file_is_refused(empty_database: str) -> None:
    await migrations.apply(empty_database, _files())
    edited = _files()
    edited[0] = replace(edited[0], sql=edited[0].sql + " -- edited")
    edited.append(Migration(service="demo", version=3, name="later", sql="SELECT 1;"))
    with pytest.raises(MigrationError, match="demo/0001_init.sql changed after it was applied"):
        await migrations.apply(empty_database, edited)
    with pytest.raises(MigrationError, match="was applied but its file is gone"):
        await migrations.apply(empty_database, _files()[1:])


async def test_a_failing_file_rolls_back_alone(empty_database: str) -> None:
    files = [*_files(), Migration(service="demo", version=3, name="bad", sql="SELECT nonsense(;")]
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await migrations.apply(empty_database, files)
    connection: Any = await asyncpg.connect(empty_database)
    try:
        versions = await connection.fetch(
            "SELECT version FROM public.tollgate_migrations ORDER BY 1"
        )
        assert [row["version"] for row in versions] == [1, 2]
    finally:
        await connection.close()
    assert len(await migrations.apply(empty_database, files[:2])) == 0
