"""Redemption codes: created by admins and shown once, stored hashed, single use
under any concurrency, refused alike when wrong, used or expired, throttled."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from services.billing.app import create_app
from services.billing.reconcile import check_ledger
from services.billing.redeem_throttle import RedeemLimits
from services.billing.settings import Settings
from services.cli.reconcile import reconcile
from shared import holds
from shared.holds import from_nano
from shared.settings import Common
from tests.accounts import create_key, sign_up
from tests.billing.conftest import Billing, make_admin
from tests.conftest import AiohttpClient, Stack

CODES = "/api/admin/redemption-codes"
REDEEM = "/api/billing/redeem"


@pytest.fixture
async def roomy(
    common: Common, db: Any, redis: aioredis.Redis, aiohttp_client: AiohttpClient
) -> Billing:
    """Billing with a throttle too wide to matter (the concurrency tests)."""
    limits = RedeemLimits(per_user=1000, per_ip=1000, window_seconds=60)
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(Settings(common=common, redeem_limits=limits))
    )
    return Billing(client)


async def _batch(billing: Billing, **fields: Any) -> dict[str, Any]:
    body = {"count": 1, "amount": "5", **fields}
    response = await billing.as_admin("POST", CODES, json=body)
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def _redeem(billing: Billing, user: uuid.UUID, code: str) -> Any:
    return await billing.request("POST", REDEEM, user_id=user, json={"code": code})


async def test_an_admin_creates_a_batch_and_sees_its_codes_once(billing: Billing) -> None:
    created = await _batch(billing, count=3, amount="2.50", note="launch week")
    assert len(created["codes"]) == len(set(created["codes"])) == 3
    assert all(len(code) == 34 and code.count("-") == 6 for code in created["codes"])
    batch = created["batch"]
    assert batch["amount"] == "2.50" and batch["count"] == 3 and batch["redeemed"] == 0
    assert batch["note"] == "launch week" and batch["expires_at"] is None
    listed = await billing.as_admin("GET", CODES)
    body = await listed.json()
    assert body["data"] == [batch]
    text = await listed.text()
    assert all(code not in text for code in created["codes"])


async def test_codes_are_stored_hashed(billing: Billing, db: Any) -> None:
    created = await _batch(billing, count=5)
    rows = await db.fetch("SELECT * FROM billing.redemption_codes")
    batches = await db.fetch("SELECT * FROM billing.redemption_batches")
    stored = repr([dict(row) for row in rows]) + repr([dict(row) for row in batches])
    for code in created["codes"]:
        assert code not in stored and code.replace("-", "") not in stored
        assert code.replace("-", "").encode() not in b"".join(row["code_hash"] for row in rows)
    assert len(rows) == 5 and all(len(row["code_hash"]) == 32 for row in rows)


async def test_a_redemption_credits_once_and_then_is_refused(billing: Billing, db: Any) -> None:
    code = (await _batch(billing, amount="7.25"))["codes"][0]
    user = uuid.uuid4()
    first = await _redeem(billing, user, code.lower().replace("-", " "))
    assert first.status == 200, await first.text()
    body = await first.json()
    assert body["amount"] == "7.25" and body["balance"] == "7.25" and body["currency"] == "USD"
    again = await _redeem(billing, user, code)
    assert again.status == 400
    assert (await again.json())["error"]["code"] == "code_not_redeemable"
    kinds = await db.fetch("SELECT kind, reason FROM billing.ledger_transactions")
    assert [row["kind"] for row in kinds] == ["top_up"]
    listed = await (await billing.as_admin("GET", CODES)).json()
    assert listed["data"][0]["redeemed"] == 1
    assert await check_ledger(db) == []


async def test_wrong_used_and_expired_codes_get_one_answer(billing: Billing, db: Any) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    expiring = (await _batch(billing, expires_at=soon.isoformat()))["codes"][0]
    used = (await _batch(billing))["codes"][0]
    assert (await _redeem(billing, uuid.uuid4(), used)).status == 200
    await asyncio.sleep(1.2)
    user = uuid.uuid4()
    answers = []
    for code in (expiring, used, "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345"):
        response = await _redeem(billing, user, code)
        answers.append((response.status, await response.json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 400
    assert (
        await db.fetchval(
            "SELECT count(*) FROM billing.redemption_codes WHERE redeemed_by = $1", user
        )
        == 0
    )


async def test_fifty_concurrent_redemptions_of_one_code_credit_once(
    roomy: Billing, db: Any, redis: aioredis.Redis, common: Common
) -> None:
    code = (await _batch(roomy, amount="3"))["codes"][0]
    users = [uuid.uuid4() for _ in range(50)]
    responses = await asyncio.gather(*(_redeem(roomy, user, code) for user in users))
    statuses = sorted(response.status for response in responses)
    assert statuses == [200] + [400] * 49
    winner = next(u for u, r in zip(users, responses, strict=True) if r.status == 200)
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 1
    balances = await db.fetch("SELECT user_id, balance FROM billing.accounts WHERE kind = 'user'")
    assert {row["user_id"]: row["balance"] for row in balances if row["balance"]} == {
        winner: Decimal(3)
    }
    account_key = holds.keys(winner)[0]
    stored = await redis.hget(account_key, "bal")
    assert stored is not None and from_nano(int(stored)) == Decimal(3)
    violations, _ = await reconcile(common.database_url, common.redis_url)  # `tollgate reconcile`
    assert violations == []


async def test_fifty_concurrent_redemptions_by_one_user_credit_once(
    roomy: Billing, db: Any
) -> None:
    code = (await _batch(roomy, amount="1"))["codes"][0]
    user = uuid.uuid4()
    responses = await asyncio.gather(*(_redeem(roomy, user, code) for _ in range(50)))
    assert sorted(r.status for r in responses) == [200] + [400] * 49
    balance = await db.fetchval("SELECT balance FROM billing.accounts WHERE user_id = $1", user)
    assert balance == 1
    assert await check_ledger(db) == []


async def test_refusals_are_throttled_per_user_and_per_source(
    common: Common, db: Any, redis: aioredis.Redis, aiohttp_client: AiohttpClient
) -> None:
    limits = RedeemLimits(per_user=3, per_ip=5, window_seconds=60)
    billing = Billing(
        await aiohttp_client(create_app(Settings(common=common, redeem_limits=limits)))
    )
    code = (await _batch(billing))["codes"][0]
    guesser = uuid.uuid4()
    for _ in range(3):
        assert (await _redeem(billing, guesser, "WRONG-CODE")).status == 400
    throttled = await _redeem(billing, guesser, code)  # even a right code: no oracle
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) >= 1
    # Another user from the same source: two more refusals reach the source's limit.
    other = uuid.uuid4()
    for _ in range(2):
        assert (await _redeem(billing, other, "WRONG-CODE")).status == 400
    assert (await _redeem(billing, uuid.uuid4(), code)).status == 429
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0


async def test_validation_and_roles(billing: Billing) -> None:
    user = uuid.uuid4()
    as_user = await billing.request("POST", CODES, user_id=user, json={"count": 1, "amount": "1"})
    assert as_user.status == 403
    assert (await billing.request("GET", CODES, user_id=user)).status == 403
    assert (await billing.request("POST", REDEEM, json={"code": "X"})).status == 401
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for body in (
        {"count": 0, "amount": "1"},
        {"count": 1001, "amount": "1"},
        {"count": 1, "amount": 1},
        {"count": 1, "amount": "0"},
        {"count": 1, "amount": "1", "expires_at": past},
        {"count": 1, "amount": "1", "code": "x"},
    ):
        response = await billing.as_admin("POST", CODES, json=body)
        assert response.status == 422, body
    assert (await billing.request("POST", REDEEM, user_id=user, json={"code": 5})).status == 422


async def test_through_the_gateway_admins_create_and_users_redeem_with_a_login(
    stack: Stack, db: Any
) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    body = {"count": 2, "amount": "4"}
    refused = await stack.gateway.post(CODES, json=body, headers=user.headers)
    assert refused.status == 403
    created = await stack.gateway.post(CODES, json=body, headers=admin.headers)
    assert created.status == 201
    codes = (await created.json())["codes"]
    key = await create_key(stack.gateway, user)
    with_key = await stack.gateway.post(
        REDEEM, json={"code": codes[0]}, headers={"x-api-key": key["key"]}
    )
    assert with_key.status == 403  # redeeming needs a login, not an API key
    redeemed = await stack.gateway.post(REDEEM, json={"code": codes[0]}, headers=user.headers)
    assert redeemed.status == 200
    assert (await redeemed.json())["balance"] == "4.00"
    me = await (await stack.gateway.get("/api/me", headers=user.headers)).json()
    assert me["balance"] == "4.00"
    assert await check_ledger(db) == []


async def test_reconcile_names_a_code_redeemed_without_its_credit(
    billing: Billing, db: Any
) -> None:
    """Forged by hand with the triggers off, as an operator's SQL could."""
    codes = (await _batch(billing, count=2, amount="2"))["codes"]
    for code in codes:
        assert (await _redeem(billing, uuid.uuid4(), code)).status == 200
    assert await check_ledger(db) == []
    first, second = await db.fetch(
        "SELECT id, transaction_id FROM billing.redemption_codes ORDER BY redeemed_at"
    )
    async with db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        await db.execute(
            "UPDATE billing.redemption_codes SET transaction_id = NULL WHERE id = $1", first["id"]
        )
        await db.execute(
            "UPDATE billing.redemption_codes SET transaction_id = $2 WHERE id = $1",
            second["id"],
            first["transaction_id"],
        )
    problems = await check_ledger(db)
    assert any(f"code {first['id']}" in problem for problem in problems), problems
    assert any(f"transaction {second['transaction_id']} is a code's credit" in p for p in problems)
