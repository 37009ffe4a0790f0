"""`GET /api/admin/balances/{user_id}`: another account's balance, for admins only,
the same figures the account's own `GET /api/billing/balance` answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from shared.holds import Holds, Snapshot
from shared.settings import Common
from tests.accounts import create_key, sign_up
from tests.billing.conftest import Billing, fund, make_admin
from tests.conftest import AiohttpClient, Stack
from tests.ports import free_ports

PATH = "/api/admin/balances/"


async def test_an_admin_reads_what_the_account_itself_reads(
    stack: Stack, db: Any, pool: Any, redis: aioredis.Redis
) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "10")
    holds = Holds(redis)
    await holds.install(
        uuid.UUID(user.id), Snapshot(balance=Decimal(10), floor=Decimal(0), version=1)
    )
    await holds.place(uuid.UUID(user.id), "hold-a", Decimal("1.25"), int(time.time() * 1000))
    response = await stack.gateway.get(PATH + user.id, headers=admin.headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    own = await (await stack.gateway.get("/api/billing/balance", headers=user.headers)).json()
    assert (
        body
        == own
        == {
            "balance": "10.00",
            "held": "1.25",
            "available": "8.75",
            "currency": "USD",
        }
    )
    # The admin's own balance is not what it read.
    mine = await (await stack.gateway.get("/api/billing/balance", headers=admin.headers)).json()
    assert mine["balance"] == "0.00"


async def test_an_account_that_never_moved_money_reads_zeros(stack: Stack, db: Any) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    accounts = await db.fetchval("SELECT count(*) FROM billing.accounts")
    response = await stack.gateway.get(PATH + user.id, headers=admin.headers)
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "balance": "0.00",
        "held": "0.00",
        "available": "0.00",
        "currency": "USD",
    }
    assert (
        await db.fetchval("SELECT count(*) FROM billing.accounts") == accounts
    )  # no account opened


async def test_a_user_or_an_api_key_gets_403_and_no_login_401(
    stack: Stack, db: Any, pool: Any
) -> None:
    user, other = await sign_up(stack.gateway), await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(other.id), "3")
    as_user = await stack.gateway.get(PATH + other.id, headers=user.headers)
    assert as_user.status == 403
    assert (await as_user.json())["error"]["code"] == "forbidden"
    own = await stack.gateway.get(PATH + user.id, headers=user.headers)
    assert own.status == 403  # not even one's own: the user's route is /api/billing/balance
    admin = await make_admin(stack, db)
    key = await create_key(stack.gateway, admin)
    with_key = await stack.gateway.get(PATH + other.id, headers={"x-api-key": key["key"]})
    assert with_key.status == 403
    assert (await stack.gateway.get(PATH + other.id)).status == 401


async def test_billing_checks_the_admin_role_itself(billing: Billing) -> None:
    someone = uuid.uuid4()
    as_user = await billing.request("GET", PATH + str(someone), user_id=uuid.uuid4())
    assert as_user.status == 403
    anonymous = await billing.request("GET", PATH + str(someone))
    assert anonymous.status == 401


@pytest.mark.parametrize(
    "raw",
    [
        "not-a-uuid",
        "00000000-0000-4000-8000-00000000000%00",
        "1" * 5000,
        "%F0%9F%92%A5",
        "00000000-0000-4000-8000-000000000000",  # well formed, nobody's
    ],
)
async def test_an_unknown_or_malformed_id_is_404(stack: Stack, db: Any, raw: str) -> None:
    admin = await make_admin(stack, db)
    accounts = await db.fetchval("SELECT count(*) FROM billing.accounts")
    response = await stack.gateway.get(PATH + raw, headers=admin.headers)
    assert response.status == 404, await response.text()
    assert response.content_type == "application/json"
    error = (await response.json())["error"]
    assert error["code"] == "not_found"
    assert raw[:40] not in error["message"]  # never echoed
    assert await db.fetchval("SELECT count(*) FROM billing.accounts") == accounts


async def test_many_reads_at_once_agree(stack: Stack, db: Any, pool: Any) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "0.5")
    answers = await asyncio.gather(
        *(stack.gateway.get(PATH + user.id, headers=admin.headers) for _ in range(20))
    )
    bodies = [await answer.json() for answer in answers]
    assert {answer.status for answer in answers} == {200}
    assert {body["balance"] for body in bodies} == {"0.50"}


async def test_while_auth_cannot_answer_it_is_503(
    common: Common, aiohttp_client: AiohttpClient
) -> None:
    (nobody,) = free_ports(1)  # nothing listens there
    settings = BillingSettings(common=common, auth_url=f"http://127.0.0.1:{nobody}")
    billing = Billing(await aiohttp_client(create_billing(settings)))
    response = await billing.as_admin("GET", PATH + str(uuid.uuid4()))
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "service_unavailable"
