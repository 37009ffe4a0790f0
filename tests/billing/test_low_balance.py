"""The low-balance alert (issue 18, point 7): a user's threshold, one mail per crossing.

Real PostgreSQL, Redis, auth (the address and language come from it) and the
mail sink over SMTP. Charges go through `charge_batch`, as billing's consumer
calls it; credits through the admin credit's `grant`.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from shared.mail.outbox import RetryPolicy
from shared.mail.settings import DEV_PUBLIC_URL, MailSettings
from tests.accounts import PASSWORD, Account, create_key, log_in, sign_up
from tests.auth.account_mail import messages
from tests.billing.conftest import EPOCH, add_price, fund, make_admin, price, usage_event
from tests.billing.test_charging import LATER, charge
from tests.conftest import AiohttpServer, Stack
from tests.smtp import start_sink

# The test's billing shares the database (and billing.outbox) with the stack's
# billing, whose mailer may queue the mail first: both use the default public URL.
PUBLIC_URL = DEV_PUBLIC_URL
SUBJECT_EN = "Tollgate: your balance is below"


@pytest.fixture
async def sink(stack: Stack, aiohttp_server: AiohttpServer, pool: Any) -> TestServer:
    """The mail sink, and a billing that mails the stack's auth's users to it."""
    server, smtp_port = await start_sink(aiohttp_server)
    settings = BillingSettings(
        common=stack.common,
        auth_url=str(stack.auth.make_url("")).rstrip("/"),
        consumer=False,
        public_url=PUBLIC_URL,
        alert_poll_seconds=0.05,
        mail=MailSettings(
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            poll_seconds=0.05,
            retry=RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=1000),
        ),
    )
    await aiohttp_server(create_billing(settings))
    async with pool.acquire() as connection:
        await add_price(connection, price(effective_from=EPOCH))
    return server


def spend(user: Account, cents: int) -> dict[str, Any]:
    """A usage event costing `cents` (model "m": 1 USD per million input tokens)."""
    return usage_event(user_id=uuid.UUID(user.id), ts=LATER, input_tokens=cents * 10_000)


async def set_threshold(stack: Stack, user: Account, threshold: str | None) -> dict[str, Any]:
    response = await stack.gateway.put(
        "/api/billing/alert", json={"threshold": threshold}, headers=user.headers
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def alerts_to(sink: TestServer, user: Account) -> list[dict[str, Any]]:
    return [m for m in await messages(sink) if user.email in m["to"]]


async def settled(pool: Any) -> None:
    """Until every queued alert is a mail and every mail is at the sink."""
    for _ in range(500):
        waiting = await pool.fetchval(
            "SELECT (SELECT count(*) FROM billing.low_balance_alerts) + "
            "(SELECT count(*) FROM billing.outbox WHERE status <> 'sent')"
        )
        if waiting == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("billing's alerts never all went out")


async def test_a_crossing_mails_once_and_a_top_up_rearms_it(
    stack: Stack, sink: TestServer, pool: Any
) -> None:
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "10.00")
    body = await set_threshold(stack, user, "5.00")
    assert body == {"threshold": "5.00", "alerted": False, "below": False, "currency": "USD"}

    await charge(pool, [spend(user, 400)])  # 6.00: still above
    await settled(pool)
    assert await alerts_to(sink, user) == []

    await charge(pool, [spend(user, 200)])  # 4.00: crossed
    await charge(pool, [spend(user, 100)])  # 3.00: still below, no second mail
    await settled(pool)
    (mail,) = await alerts_to(sink, user)
    assert mail["subject"] == "Tollgate: your balance is below 5.00 USD"
    assert "4.00 USD" in mail["text"]
    assert f"{PUBLIC_URL}/billing/topup" in mail["text"]
    assert f'href="{PUBLIC_URL}/billing/topup"' in mail["html"]
    response = await stack.gateway.get("/api/billing/alert", headers=user.headers)
    assert await response.json() == {
        "threshold": "5.00",
        "alerted": True,
        "below": True,
        "currency": "USD",
    }

    await fund(pool, uuid.UUID(user.id), "1.00")  # 4.00: still below, still marked
    await charge(pool, [spend(user, 50)])
    await settled(pool)
    assert len(await alerts_to(sink, user)) == 1

    await fund(pool, uuid.UUID(user.id), "5.00")  # 8.50: above again, the mark cleared
    assert not await pool.fetchval(
        "SELECT low_balance_alerted FROM billing.accounts WHERE user_id = $1", uuid.UUID(user.id)
    )
    await charge(pool, [spend(user, 400)])  # 4.50: crossed again
    await settled(pool)
    assert len(await alerts_to(sink, user)) == 2


async def test_twenty_concurrent_charges_across_the_threshold_mail_once(
    stack: Stack, sink: TestServer, pool: Any
) -> None:
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "10.00")
    await set_threshold(stack, user, "9.00")
    # 20 charges of 0.10 at once, each its own batch and transaction: 10.00 -> 8.00.
    await asyncio.gather(*(charge(pool, [spend(user, 10)]) for _ in range(20)))
    await settled(pool)
    assert len(await alerts_to(sink, user)) == 1
    balance = await pool.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", uuid.UUID(user.id)
    )
    assert balance == Decimal("8.00")


async def test_no_threshold_no_mail_and_off_stops_it(
    stack: Stack, sink: TestServer, pool: Any
) -> None:
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "2.00")
    response = await stack.gateway.get("/api/billing/alert", headers=user.headers)
    assert (await response.json())["threshold"] is None
    await charge(pool, [spend(user, 150)])
    await set_threshold(stack, user, "1.00")
    body = await set_threshold(stack, user, None)
    assert body["threshold"] is None
    await charge(pool, [spend(user, 10)])
    await settled(pool)
    assert await alerts_to(sink, user) == []
    assert await pool.fetchval("SELECT count(*) FROM billing.outbox") == 0


async def test_a_threshold_above_the_balance_mails_at_the_next_charge(
    stack: Stack, sink: TestServer, pool: Any
) -> None:
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "3.00")
    body = await set_threshold(stack, user, "5.00")
    assert body["below"] is True and body["alerted"] is False
    await settled(pool)
    assert await alerts_to(sink, user) == []  # not at once
    await charge(pool, [spend(user, 10)])
    await settled(pool)
    assert len(await alerts_to(sink, user)) == 1


async def test_the_mail_is_in_the_users_language(stack: Stack, sink: TestServer, pool: Any) -> None:
    username = f"user_{secrets.token_hex(4)}"
    email = f"{username}@example.com"
    response = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": email, "username": username, "password": PASSWORD, "language": "zh-CN"},
    )
    assert response.status == 201, await response.text()
    token = await log_in(stack.gateway, username)
    me = await stack.gateway.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    user = Account(id=(await me.json())["id"], email=email, username=username, token=token)
    await fund(pool, uuid.UUID(user.id), "1.00")
    await set_threshold(stack, user, "0.50")
    await charge(pool, [spend(user, 60)])
    await settled(pool)
    (mail,) = await alerts_to(sink, user)
    assert mail["subject"] == "Tollgate：您的余额已低于 0.50 USD"
    assert "0.40 USD" in mail["text"]


async def test_the_threshold_is_checked_and_set_only_when_signed_in(
    stack: Stack, pool: Any
) -> None:
    user = await sign_up(stack.gateway)
    for bad in ("-1", "abc", 5, "1.0000000000001", "2000000"):
        response = await stack.gateway.put(
            "/api/billing/alert", json={"threshold": bad}, headers=user.headers
        )
        assert response.status == 422, bad
    response = await stack.gateway.put("/api/billing/alert", json={}, headers=user.headers)
    assert response.status == 422
    key = await create_key(stack.gateway, user)
    with_key = {"Authorization": f"Bearer {key['key']}"}
    response = await stack.gateway.put(
        "/api/billing/alert", json={"threshold": "1.00"}, headers=with_key
    )
    assert response.status == 403
    response = await stack.gateway.get("/api/billing/alert", headers=with_key)
    assert response.status == 200
    assert (await response.json())["threshold"] is None
    response = await stack.gateway.get("/api/billing/alert")
    assert response.status == 401


async def test_a_redeemed_code_arms_the_alert_again(
    stack: Stack, sink: TestServer, pool: Any, db: Any
) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "3.00")
    await set_threshold(stack, user, "2.00")
    await charge(pool, [spend(user, 150)])  # 1.50: crossed
    await settled(pool)
    assert len(await alerts_to(sink, user)) == 1
    created = await stack.gateway.post(
        "/api/admin/redemption-codes", json={"count": 1, "amount": "1.00"}, headers=admin.headers
    )
    assert created.status == 201, await created.text()
    (code,) = (await created.json())["codes"]
    redeemed = await stack.gateway.post(
        "/api/billing/redeem", json={"code": code}, headers=user.headers
    )
    assert redeemed.status == 200, await redeemed.text()  # 2.50: at or above again
    response = await stack.gateway.get("/api/billing/alert", headers=user.headers)
    assert (await response.json())["alerted"] is False
    await charge(pool, [spend(user, 100)])  # 1.50: crossed again
    await settled(pool)
    assert len(await alerts_to(sink, user)) == 2
