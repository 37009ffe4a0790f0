"""`/api/admin/reconcile`: run the money reconciliation from the admin API, read the last run.

`POST` runs exactly what `tollgate reconcile` runs (`services.cli.reconcile.reconcile`,
the one implementation of the checks), stores the outcome in
`billing.reconcile_runs` and answers it (201); `GET` answers the last stored run,
`{"last": null}` before the first. Admin role only (the gateway checks it,
billing again). One run at a time per process: a second `POST` while one runs
waits for it.

A run reads the billing and usage schemas and Redis, as the command does: it
is the operator's tool, the one place allowed to look across schemas; here it
runs on the operator's request only.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.cli.reconcile import reconcile
from shared.internal import caller
from shared.service import DB
from shared.settings import Common

COMMON = web.AppKey("billing_common", Common)
_LOCK = web.AppKey("billing_reconcile_lock", asyncio.Lock)


def run_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "started_at": row["started_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat(),
        "ok": row["ok"],
        "violations": list(row["violations"]),
        "notes": list(row["notes"]),
        "run_by": None if row["run_by"] is None else str(row["run_by"]),
    }


def setup(app: web.Application, common: Common) -> None:
    app[COMMON] = common
    app[_LOCK] = asyncio.Lock()


async def run(request: web.Request) -> web.Response:
    admin = caller(request).require_admin()
    common = request.app[COMMON]
    async with request.app[_LOCK]:
        started = datetime.now(UTC)
        violations, notes = await reconcile(common.database_url, common.redis_url)
        pool: Any = request.app[DB]
        row = await pool.fetchrow(
            "INSERT INTO billing.reconcile_runs "
            "(started_at, finished_at, ok, violations, notes, run_by) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            started,
            datetime.now(UTC),
            not violations,
            violations,
            notes,
            admin,
        )
    return web.json_response(run_json(row), status=201)


async def last(request: web.Request) -> web.Response:
    caller(request).require_admin()
    pool: Any = request.app[DB]
    row = await pool.fetchrow(
        "SELECT * FROM billing.reconcile_runs ORDER BY finished_at DESC, id DESC LIMIT 1"
    )
    return web.json_response({"last": None if row is None else run_json(row)})
