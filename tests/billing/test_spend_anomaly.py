"""Spend anomalies (issue 19, point 5): an hour far above the account's usual
mails the user and the operators once, and can suspend the key that spent it.

Real PostgreSQL, Redis, auth (addresses, languages, the administrators, the
key's suspension), the gateway (the suspended key refused) and the mail sink
over SMTP. Charges go through `charge_batch`, as billing's consumer calls it;
the detector's round is run by the test (`spend_anomaly.run_once`), the worker
that suspends and mails runs in the billing app as in production.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.billing import spend_anomaly
from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from services.billing.spend_anomaly import (
    NO_KEY,
    AccountSpend,
    AnomalySettings,
    judge,
    run_once,
)
from shared.internal import TOKEN_HEADER
from shared.mail.outbox import RetryPolicy
from shared.mail.settings import DEV_PUBLIC_URL, MailSettings
from shared.settings import SettingsError
from tests.accounts import PASSWORD, Account, create_key, log_in, sign_up
from tests.auth.account_mail import messages
from tests.billing.conftest import EPOCH, add_price, fund, make_admin, price, usage_event
from tests.billing.test_charging import charge
from tests.conftest import INTERNAL_TOKEN, AiohttpServer, Stack
from tests.smtp import start_sink

D = Decimal
# The test's billing shares the database (and billing.outbox) with the stack's
# billing, whose mailer may queue the mail first: both use the default public URL.
PUBLIC_URL = DEV_PUBLIC_URL
SUBJECT = "Tollgate: unusual spending on your account"
OPERATOR_SUBJECT = "Tollgate: spend anomaly on"
DEFAULTS = AnomalySettings()
SUSPENDING = AnomalySettings(suspend_key=True)


async def _billing(
    stack: Stack, aiohttp_server: AiohttpServer, pool: Any, anomaly: AnomalySettings
) -> TestServer:
    """The mail sink, and a billing whose anomaly worker mails to it."""
    server, smtp_port = await start_sink(aiohttp_server)
    settings = BillingSettings(
        common=stack.common,
        auth_url=str(stack.auth.make_url("")).rstrip("/"),
        consumer=False,  # no detector loop: the test runs each round
        public_url=PUBLIC_URL,
        alert_poll_seconds=0.05,
        anomaly=anomaly,
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


@pytest.fixture
async def sink(stack: Stack, aiohttp_server: AiohttpServer, pool: Any) -> TestServer:
    return await _billing(stack, aiohttp_server, pool, DEFAULTS)


@pytest.fixture
async def suspending_sink(stack: Stack, aiohttp_server: AiohttpServer, pool: Any) -> TestServer:
    return await _billing(stack, aiohttp_server, pool, SUSPENDING)


def spend(user: Account, cents: int, *, key_id: uuid.UUID | None, ago: timedelta) -> dict[str, Any]:
    """A usage event costing `cents` (model "m": 1 USD per million input tokens)."""
    event = usage_event(
        user_id=uuid.UUID(user.id), ts=datetime.now(UTC) - ago, input_tokens=cents * 10_000
    )
    return {**event, "key_id": None if key_id is None else str(key_id)}


async def burst(user: Account, key_id: uuid.UUID | None, dollars: int, pool: Any) -> None:
    """`dollars` one-dollar calls in the last minutes, in a few batches at once."""
    events = [spend(user, 100, key_id=key_id, ago=timedelta(minutes=2)) for _ in range(dollars)]
    await asyncio.gather(*(charge(pool, events[i : i + 3]) for i in range(0, len(events), 3)))


async def history(user: Account, dollars: int, pool: Any) -> None:
    """`dollars` spent two days ago: a usual of about dollars / 48 an hour."""
    await charge(pool, [spend(user, dollars * 100, key_id=None, ago=timedelta(hours=48))])


async def settled(pool: Any) -> None:
    """Until every queued anomaly is done and every mail is at the sink."""
    for _ in range(500):
        waiting = await pool.fetchval(
            "SELECT (SELECT count(*) FROM billing.spend_anomalies WHERE pending) + "
            "(SELECT count(*) FROM billing.outbox WHERE status <> 'sent')"
        )
        if waiting == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("billing's anomaly mails never all went out")


async def mails_to(sink: TestServer, address: str, subject: str) -> list[dict[str, Any]]:
    return [m for m in await messages(sink) if address in m["to"] and subject in m["subject"]]


# ---- judging, pure ---------------------------------------------------------------------


def test_above_the_multiple_and_the_floor_names_the_keys_that_are_too() -> None:
    user, big, small = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    spend_ = AccountSpend(
        user_id=user,
        spent=D("30"),
        usual=D("2"),
        keys={big: D("18"), small: D("6"), NO_KEY: D("6")},
    )
    anomaly = judge(spend_, DEFAULTS)
    assert anomaly is not None
    assert anomaly.keys == ((big, D("18")),)  # 6 is above the floor, not above 5 x 2
    assert judge(AccountSpend(user_id=user, spent=D("10"), usual=D("2")), DEFAULTS) is None
    assert judge(AccountSpend(user_id=user, spent=D("4.99"), usual=D("0")), DEFAULTS) is None
    only_signed_in = AccountSpend(user_id=user, spent=D("9"), usual=D("0"), keys={NO_KEY: D("9")})
    found = judge(only_signed_in, DEFAULTS)
    assert found is not None and found.keys == ()  # nothing to suspend


def test_settings_read_and_refuse() -> None:
    read = AnomalySettings.from_env(
        {"ANOMALY_MULTIPLE": "3.5", "ANOMALY_FLOOR_USD": "0.5", "ANOMALY_SUSPEND_KEY": "on"}
    )
    assert (read.multiple, read.floor_usd, read.suspend_key) == (D("3.5"), D("0.5"), True)
    assert AnomalySettings.from_env({}) == DEFAULTS
    for bad in (
        {"ANOMALY_MULTIPLE": "0.5"},
        {"ANOMALY_FLOOR_USD": "NaN"},
        {"ANOMALY_FLOOR_USD": "x"},
    ):
        with pytest.raises(SettingsError):
            AnomalySettings.from_env(bad)


# ---- end to end ------------------------------------------------------------------------


async def test_a_burst_mails_the_user_and_the_operator_once(
    stack: Stack, sink: TestServer, pool: Any, db: Any
) -> None:
    admin = await make_admin(stack, db)
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "100.00")
    key_id = uuid.UUID((await create_key(stack.gateway, user, name="laptop"))["id"])
    await history(user, 24, pool)  # about 0.50 an hour
    await burst(user, key_id, 12, pool)  # 12.00 in the last hour: above 5 x 0.50 and 5.00

    assert await run_once(pool, DEFAULTS) == 1
    await settled(pool)
    (mail,) = await mails_to(sink, user.email, SUBJECT)
    assert "12.00 USD in an hour" in mail["subject"]
    assert "laptop" in mail["text"] and "12.00 USD" in mail["text"]
    assert "suspended" not in mail["text"]  # the operator did not ask for it
    assert f"{PUBLIC_URL}/keys" in mail["text"]
    (operator,) = await mails_to(sink, admin.email, OPERATOR_SUBJECT)
    assert user.email in operator["subject"] and user.id in operator["text"]
    assert f"{PUBLIC_URL}/admin/users/{user.id}" in operator["text"]  # the console's account

    # The same burst seen again, then a second burst within the quiet window: no mail.
    assert await run_once(pool, DEFAULTS) == 0
    await burst(user, key_id, 10, pool)
    assert await run_once(pool, DEFAULTS) == 0
    await settled(pool)
    assert len(await mails_to(sink, user.email, SUBJECT)) == 1
    assert len(await mails_to(sink, admin.email, OPERATOR_SUBJECT)) == 1
    # Nothing was suspended: the operator did not ask for it.
    verify = await _verify_answer(stack, key_id)
    assert verify is None


async def test_a_burst_under_the_floor_or_the_multiple_does_not_mail(
    stack: Stack, sink: TestServer, pool: Any, db: Any
) -> None:
    admin = await make_admin(stack, db)
    new = await sign_up(stack.gateway)  # no history: the floor alone decides
    await fund(pool, uuid.UUID(new.id), "100.00")
    await burst(new, None, 4, pool)
    steady = await sign_up(stack.gateway)  # usually 2.00 an hour: 8.00 is under 5 x 2.00
    await fund(pool, uuid.UUID(steady.id), "200.00")
    await history(steady, 96, pool)
    await burst(steady, None, 8, pool)

    assert await run_once(pool, DEFAULTS) == 0
    await settled(pool)
    assert await mails_to(sink, new.email, SUBJECT) == []
    assert await mails_to(sink, steady.email, SUBJECT) == []
    assert await mails_to(sink, admin.email, OPERATOR_SUBJECT) == []
    assert await pool.fetchval("SELECT count(*) FROM billing.spend_anomalies") == 0


async def test_the_key_that_spent_it_is_suspended_and_its_owner_resumes_it(
    stack: Stack, suspending_sink: TestServer, pool: Any
) -> None:
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "100.00")
    leaked = await create_key(stack.gateway, user, name="leaked")
    other = await create_key(stack.gateway, user, name="other")
    leaked_id, leaked_headers = (
        uuid.UUID(leaked["id"]),
        {"Authorization": f"Bearer {leaked['key']}"},
    )
    assert (await stack.gateway.get("/api/me", headers=leaked_headers)).status == 200  # cached
    await burst(user, leaked_id, 9, pool)  # no history: 9.00 is above the floor

    assert await run_once(pool, SUSPENDING) == 1
    await settled(pool)
    refusal = await _refused_within_a_second(stack, leaked_headers)
    assert "suspended" in refusal and "spend anomaly" in refusal
    answer = await _verify_answer(stack, leaked_id, secret=leaked["key"])
    assert answer is not None and answer["error"]["code"] == "key_suspended"
    other_headers = {"Authorization": f"Bearer {other['key']}"}
    assert (await stack.gateway.get("/api/me", headers=other_headers)).status == 200
    (mail,) = await mails_to(suspending_sink, user.email, SUBJECT)
    assert "leaked" in mail["text"] and "suspended" in mail["text"]
    listed = await stack.gateway.get("/api/keys", headers=user.headers)
    states = {k["name"]: k["suspended_at"] for k in (await listed.json())["data"]}
    assert states["leaked"] is not None and states["other"] is None

    resumed = await stack.gateway.post(f"/api/keys/{leaked_id}/resume", headers=user.headers)
    assert resumed.status == 200, await resumed.text()
    assert (await resumed.json())["suspended_at"] is None
    assert (await stack.gateway.get("/api/me", headers=leaked_headers)).status == 200
    # The same burst, still in the last hour, suspends it no more (nor mails).
    assert await run_once(pool, SUSPENDING) == 0
    await settled(pool)
    assert (await stack.gateway.get("/api/me", headers=leaked_headers)).status == 200
    assert len(await mails_to(suspending_sink, user.email, SUBJECT)) == 1


async def test_each_mail_is_in_its_readers_language(
    stack: Stack, sink: TestServer, pool: Any, db: Any
) -> None:
    admin = await make_admin(stack, db)
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
    await fund(pool, uuid.UUID(user.id), "100.00")
    await burst(user, None, 7, pool)  # signed in, no key: the account is told, nothing suspended
    assert await run_once(pool, SUSPENDING) == 1
    await settled(pool)
    (mail,) = await mails_to(sink, email, "Tollgate：您的账户出现异常消费")
    assert "7.00 USD" in mail["subject"] and "产生这些消费的密钥" not in mail["text"]
    (operator,) = await mails_to(sink, admin.email, OPERATOR_SUBJECT)
    assert email in operator["subject"]


async def test_old_buckets_are_deleted_and_old_events_never_bucketed(
    stack: Stack, pool: Any
) -> None:
    user = await sign_up(stack.gateway)
    await fund(pool, uuid.UUID(user.id), "10.00")
    async with pool.acquire() as connection:
        await add_price(connection, price(effective_from=EPOCH))
    await charge(pool, [spend(user, 100, key_id=None, ago=timedelta(days=9))])
    assert await pool.fetchval("SELECT count(*) FROM billing.spend_buckets") == 0
    await pool.execute(
        "INSERT INTO billing.spend_buckets (user_id, key_id, bucket, spent) "
        "VALUES ($1, $2, now() - interval '9 days', 1)",
        uuid.UUID(user.id),
        NO_KEY,
    )
    assert await spend_anomaly.run_once(pool, DEFAULTS) == 0
    assert await pool.fetchval("SELECT count(*) FROM billing.spend_buckets") == 0


async def _refused_within_a_second(stack: Stack, headers: dict[str, str]) -> str:
    for _ in range(20):
        answer = await stack.gateway.get("/api/me", headers=headers)
        if answer.status == 403:
            return await answer.text()
        assert answer.status == 200, await answer.text()
        await asyncio.sleep(0.05)
    raise AssertionError("the suspended key still worked a second after its suspension")


async def _verify_answer(
    stack: Stack, key_id: uuid.UUID, *, secret: str | None = None
) -> dict[str, Any] | None:
    """Auth's own refusal of the key (None: the key is not suspended)."""
    facts = await stack.gateway.session.get(
        stack.auth.make_url(f"/internal/keys/{key_id}"), headers={TOKEN_HEADER: INTERNAL_TOKEN}
    )
    assert facts.status == 200, await facts.text()
    if (await facts.json())["suspended_at"] is None:
        return None
    if secret is None:
        return {"error": {"code": "key_suspended"}}
    answer = await stack.gateway.session.post(
        stack.auth.make_url("/internal/keys/verify"),
        json={"key": secret},
        headers={TOKEN_HEADER: INTERNAL_TOKEN},
    )
    assert answer.status == 403, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body
