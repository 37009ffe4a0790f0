"""`POST /api/admin/credits`: admin only, money as strings, once per key, to
users auth knows."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.auth import store as auth_store
from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from shared.settings import Common
from tests.accounts import create_key, sign_up
from tests.billing.conftest import Billing, make_admin
from tests.conftest import AiohttpClient, Stack
from tests.ports import free_ports

CREDITS = "/api/admin/credits"


def _credit(user_id: str | uuid.UUID, amount: Any = "12.50", **extra: Any) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "amount": amount,
        "reason": "welcome bonus",
        "idempotency_key": uuid.uuid4().hex,
        **extra,
    }


async def _transactions(db: Any) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM billing.ledger_transactions")
    return count


async def _accounts(db: Any) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM billing.accounts WHERE kind = 'user'")
    return count


async def _user(db: Any) -> uuid.UUID:
    """A user auth knows (straight into auth's table: no password is needed here)."""
    name = f"user_{uuid.uuid4().hex[:8]}"
    user = await auth_store.create_user(
        db, email=f"{name}@example.com", username=name, password_hash="unused"
    )
    return user.id


@pytest.fixture
async def checked(stack: Stack, aiohttp_client: AiohttpClient) -> Billing:
    """Billing as the stack runs it: it asks the stack's auth whether a user exists."""
    return Billing(await aiohttp_client(stack.billing))


async def test_an_admin_credits_a_user_through_the_gateway(stack: Stack, db: Any) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    response = await stack.gateway.post(CREDITS, json=_credit(user.id), headers=admin.headers)
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["balance"] == "12.50" and body["amount"] == "12.50" and body["currency"] == "USD"
    assert isinstance(body["transaction_id"], int) and body["user_id"] == user.id
    me = await (await stack.gateway.get("/api/me", headers=user.headers)).json()
    assert me["balance"] == "12.50"
    balance = await stack.gateway.get("/api/billing/balance", headers=user.headers)
    assert (await balance.json())["balance"] == "12.50"
    created_by = await db.fetchval(
        "SELECT created_by FROM billing.ledger_transactions WHERE id = $1", body["transaction_id"]
    )
    assert str(created_by) == admin.id


async def test_only_admins_with_a_login_may_credit_through_the_gateway(
    stack: Stack, db: Any
) -> None:
    user = await sign_up(stack.gateway)
    as_user = await stack.gateway.post(CREDITS, json=_credit(user.id), headers=user.headers)
    assert as_user.status == 403
    admin = await make_admin(stack, db)
    key = await create_key(stack.gateway, admin)
    with_key = await stack.gateway.post(
        CREDITS, json=_credit(user.id), headers={"x-api-key": key["key"]}
    )
    assert with_key.status == 403  # admin routes need a login, not an API key
    assert await _transactions(db) == 0


async def test_billing_checks_the_admin_role_itself(billing: Billing, db: Any) -> None:
    user = uuid.uuid4()
    as_user = await billing.request("POST", CREDITS, user_id=user, json=_credit(user))
    assert as_user.status == 403
    anonymous = await billing.request("POST", CREDITS, json=_credit(user))
    assert anonymous.status == 401
    assert await _transactions(db) == 0


async def test_the_same_key_and_body_answer_the_first_result(checked: Billing, db: Any) -> None:
    request = _credit(await _user(db), "5")
    first = await checked.as_admin("POST", CREDITS, json=request)
    again = await checked.as_admin("POST", CREDITS, json={**request, "amount": "5.000"})
    assert first.status == again.status == 201
    assert await first.json() == await again.json()
    assert await _transactions(db) == 1
    assert await db.fetchval("SELECT balance FROM billing.accounts WHERE kind = 'user'") == 5


@pytest.mark.parametrize("change", [{"amount": "6"}, {"reason": "another reason"}, {"user_id": ""}])
async def test_the_same_key_with_another_body_is_a_conflict(
    checked: Billing, db: Any, change: dict[str, str]
) -> None:
    request = _credit(await _user(db), "5")
    if "user_id" in change:
        change = {"user_id": str(await _user(db))}
    assert (await checked.as_admin("POST", CREDITS, json=request)).status == 201
    reused = await checked.as_admin("POST", CREDITS, json={**request, **change})
    assert reused.status == 409
    assert (await reused.json())["error"]["code"] == "idempotency_key_reused"
    assert await _transactions(db) == 1


async def test_identical_requests_at_once_make_one_transaction(checked: Billing, db: Any) -> None:
    request = _credit(await _user(db), "3.333333333333")
    responses = await asyncio.gather(
        *(checked.as_admin("POST", CREDITS, json=request) for _ in range(8))
    )
    assert {r.status for r in responses} == {201}
    bodies = [await r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["balance"] == "3.333333333333"
    assert await _transactions(db) == 1


async def test_different_keys_at_once_each_credit_once(checked: Billing, db: Any) -> None:
    user = await _user(db)
    responses = await asyncio.gather(
        *(checked.as_admin("POST", CREDITS, json=_credit(user, "1.10")) for _ in range(6))
    )
    assert {r.status for r in responses} == {201}
    assert await _transactions(db) == 6
    assert await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", user
    ) == Decimal("6.6")
    balances = sorted([(await r.json())["balance"] for r in responses])
    assert balances == ["1.10", "2.20", "3.30", "4.40", "5.50", "6.60"]


async def test_money_as_a_json_number_is_refused(billing: Billing, db: Any) -> None:
    for amount in (12.5, 10):
        response = await billing.as_admin("POST", CREDITS, json=_credit(uuid.uuid4(), amount))
        assert response.status == 422
        details = (await response.json())["error"]["details"]
        assert any("not a JSON number" in line for line in details), details
    assert await _transactions(db) == 0


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"amount": "0"}, "greater than zero"),
        ({"amount": "-5"}, "decimal string"),
        ({"amount": "1e3"}, "decimal string"),
        ({"amount": "NaN"}, "decimal string"),
        ({"amount": " 5"}, "decimal string"),
        ({"amount": "٣"}, "decimal string"),
        ({"amount": "0.0000000000001"}, "12 decimal places"),
        ({"amount": "1000000000.01"}, "at most"),
        ({"user_id": "alice"}, "user_id"),
        ({"reason": "  "}, "reason"),
        ({"idempotency_key": None}, "idempotency_key: required"),
        ({"surprise": 1}, "surprise: unknown field"),
    ],
)
async def test_bad_credits_are_refused_with_reasons(
    billing: Billing, db: Any, change: dict[str, Any], complaint: str
) -> None:
    response = await billing.as_admin("POST", CREDITS, json={**_credit(uuid.uuid4()), **change})
    assert response.status == 422
    details = (await response.json())["error"]["details"]
    assert any(complaint in line for line in details), details
    assert await _transactions(db) == 0


async def test_a_credit_to_an_unknown_user_is_404_and_writes_nothing(stack: Stack, db: Any) -> None:
    """On 0c207e1: 201, and a balance for an id nobody has."""
    admin = await make_admin(stack, db)
    accounts_before = await _accounts(db)
    response = await stack.gateway.post(CREDITS, json=_credit(uuid.uuid4()), headers=admin.headers)
    assert response.status == 404, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "not_found" and error["message"].startswith("user_id:")
    assert response.headers["x-should-retry"] == "false"
    assert await _transactions(db) == 0 and await _accounts(db) == accounts_before
    assert await db.fetchval("SELECT count(*) FROM billing.credit_requests") == 0


async def test_a_credit_while_auth_cannot_answer_is_refused(
    common: Common, db: Any, aiohttp_client: AiohttpClient
) -> None:
    (nobody,) = free_ports(1)  # nothing listens there
    settings = BillingSettings(common=common, auth_url=f"http://127.0.0.1:{nobody}")
    billing = Billing(await aiohttp_client(create_billing(settings)))
    response = await billing.as_admin("POST", CREDITS, json=_credit(uuid.uuid4()))
    assert response.status == 503
    assert await _transactions(db) == 0 and await _accounts(db) == 0
