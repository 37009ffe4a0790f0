"""Versioned SQL migrations, one folder per service schema.

Files are `services/<service>/migrations/NNNN_description.sql`. `apply` takes
a session advisory lock (so two processes can run it at once: the second
waits, then finds nothing to do), refuses to run when an applied file has been
changed or removed since, and applies each pending file in its own
transaction together with its record in `public.tollgate_migrations`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

_log = logging.getLogger(__name__)

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
SERVICES = ("auth", "billing", "usage", "gateway")
_LOCK_KEY = 0x70_6C_67_74  # any fixed bigint; names this project's migration lock
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

_LEDGER = """
CREATE TABLE IF NOT EXISTS public.tollgate_migrations (
    service    text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, version)
)
"""


class MigrationError(Exception):
    """The applied history and the files disagree; the message says how."""


@dataclass(frozen=True, kw_only=True)
class Migration:
    service: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(services: tuple[str, ...] = SERVICES, root: Path = SERVICES_DIR) -> list[Migration]:
    found: list[Migration] = []
    for service in services:
        folder = root / service / "migrations"
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.sql")):
            match = _FILE.fullmatch(path.name)
            if match is None:
                raise MigrationError(f"{path}: name must look like 0001_description.sql")
            found.append(
                Migration(
                    service=service,
                    version=int(match.group(1)),
                    name=match.group(2),
                    sql=path.read_text(),
                )
            )
    return found


def check_history(applied: dict[tuple[str, int], str], files: list[Migration]) -> None:
    """Refuse when an applied migration's file changed or disappeared."""
    by_key = {(m.service, m.version): m for m in files}
    for key, checksum in sorted(applied.items()):
        migration = by_key.get(key)
        label = f"{key[0]}/{key[1]:04d}"
        if migration is None:
            raise MigrationError(f"migration {label} was applied but its file is gone")
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {label}_{migration.name}.sql changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )


async def apply(dsn: str, files: list[Migration] | None = None) -> list[Migration]:
    """Apply pending migrations; returns those applied by this call."""
    migrations = discover() if files is None else files
    connection: Any = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _apply_locked(connection, migrations)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await connection.close()


async def _apply_locked(connection: Any, migrations: list[Migration]) -> list[Migration]:
    await connection.execute(_LEDGER)
    rows = await connection.fetch(
        "SELECT service, version, checksum FROM public.tollgate_migrations"
    )
    applied = {(row["service"], row["version"]): row["checksum"] for row in rows}
    check_history(applied, migrations)
    done: list[Migration] = []
    for migration in migrations:
        if (migration.service, migration.version) in applied:
            continue
        async with connection.transaction():
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO public.tollgate_migrations (service, version, name, checksum) "
                "VALUES ($1, $2, $3, $4)",
                migration.service,
                migration.version,
                migration.name,
                migration.checksum,
            )
        _log.info(
            "migration applied",
            extra={"service": migration.service, "version": migration.version},
        )
        done.append(migration)
    return done


async def ensure_database(dsn: str) -> bool:
    """Create the database named in `dsn` when it does not exist; True if created."""
    try:
        connection: Any = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await connection.close()
        return False
    name = dsn.rsplit("/", 1)[1].split("?", 1)[0]
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise MigrationError(f"database name {name!r} must be letters, digits and underscores")
    admin: Any = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        return False
    finally:
        await admin.close()
    return True
