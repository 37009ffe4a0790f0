"""`GET /api/admin/prices` (every model's current and next price) and
`/api/admin/reconcile` (run the reconciliation, read the last run)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.accounts import sign_up
from tests.billing.conftest import Billing, make_admin
from tests.conftest import Stack

RATES = {"input": "3", "output": "15", "cache_read": "0.30", "cache_write": "3.75"}


async def test_the_price_list_names_every_model_with_its_current_and_next_price(
    billing: Billing,
) -> None:
    empty = await billing.as_admin("GET", "/api/admin/prices")
    assert empty.status == 200 and (await empty.json()) == {"data": []}
    await billing.as_admin("PUT", "/api/admin/prices/zeta", json=RATES)
    await billing.as_admin("PUT", "/api/admin/prices/alpha", json={**RATES, "input": "1"})
    await billing.as_admin("PUT", "/api/admin/prices/alpha", json={**RATES, "input": "2"})
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    await billing.as_admin(
        "PUT", "/api/admin/prices/alpha", json={**RATES, "input": "4", "effective_from": later}
    )
    await billing.as_admin(
        "PUT", "/api/admin/prices/future", json={**RATES, "effective_from": later}
    )
    listed = await (await billing.as_admin("GET", "/api/admin/prices")).json()
    rows = {row["model"]: row for row in listed["data"]}
    assert [row["model"] for row in listed["data"]] == ["alpha", "future", "zeta"]
    assert rows["alpha"]["current"]["input"] == "2.00"
    assert rows["alpha"]["next"]["input"] == "4.00"
    assert rows["zeta"]["current"]["output"] == "15.00" and rows["zeta"]["next"] is None
    assert rows["future"]["current"] is None and rows["future"]["next"]["input"] == "3.00"
    refused = await billing.request("GET", "/api/admin/prices", user_id=uuid.uuid4())
    assert refused.status == 403


async def test_an_admin_runs_reconcile_and_reads_the_last_run(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    before = await stack.gateway.get("/api/admin/reconcile", headers=admin.headers)
    assert before.status == 200, await before.text()
    assert await before.json() == {"last": None}
    run = await stack.gateway.post("/api/admin/reconcile", headers=admin.headers)
    assert run.status == 201, await run.text()
    body = await run.json()
    assert body["ok"] is True and body["violations"] == [] and body["run_by"] == admin.id
    assert body["started_at"] <= body["finished_at"]
    last = await (await stack.gateway.get("/api/admin/reconcile", headers=admin.headers)).json()
    assert last == {"last": body}


async def test_a_violation_is_kept_in_the_run(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    account = await db.fetchval(
        "INSERT INTO billing.accounts (kind, user_id, balance, floor) "
        "VALUES ('user', $1, 5, 0) RETURNING id",
        uuid.uuid4(),
    )
    run = await (await stack.gateway.post("/api/admin/reconcile", headers=admin.headers)).json()
    assert run["ok"] is False
    assert any(f"account {account}" in violation for violation in run["violations"])
    last = await (await stack.gateway.get("/api/admin/reconcile", headers=admin.headers)).json()
    assert last["last"]["id"] == run["id"] and last["last"]["ok"] is False


async def test_only_an_admin_runs_reconcile(stack: Stack, billing: Billing) -> None:
    user = await sign_up(stack.gateway)
    for method in ("GET", "POST"):
        response = await stack.gateway.request(method, "/api/admin/reconcile", headers=user.headers)
        assert response.status == 403
        assert (await billing.request(method, "/api/admin/reconcile")).status in {401, 403}
        as_user = await billing.request(method, "/api/admin/reconcile", user_id=uuid.uuid4())
        assert as_user.status == 403
