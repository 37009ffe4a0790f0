"""After a refund takes back a spent top-up, relaying is refused with 402 in
the client's format (the balance is below zero: a debt); the next top-up pays
the debt first. Real HTTP end to end: top-up, signed webhooks, a relayed chat
through the mock LLM provider, the usage charged by the stack's billing."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shared.settings import Common
from tests.accounts import create_key
from tests.billing.payments_stack import PaymentsStack, payments_stack, session_event, signed
from tests.billing.test_refunds_disputes import _charge_refunded
from tests.conftest import AiohttpClient, AiohttpServer, Stack
from tests.relay import add_mock_channels, add_prices


@dataclass(frozen=True)
class _Relayable:
    gateway: TestClient[Any, Any]
    mock: TestServer
    common: Common


@pytest.fixture
async def paying(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> PaymentsStack:
    return await payments_stack(stack, common, aiohttp_server, aiohttp_client)


async def _chat(paying: PaymentsStack, key: str) -> Any:
    response = await paying.gateway.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    await response.read()
    return response


async def test_relaying_is_refused_with_402_after_a_refund_of_spent_credit(
    paying: PaymentsStack, common: Common, db: Any
) -> None:
    relayable = _Relayable(paying.gateway, paying.stack.mock, common)
    await add_mock_channels(relayable)
    await add_prices(relayable)
    account = await paying.user()
    key = (await create_key(paying.stack.gateway, account))["key"]
    order = await (await paying.topup(account, "5")).json()
    intent = "pi_" + uuid.uuid4().hex
    paid = session_event(
        order["order_id"],
        session_id=order["provider_payment_id"],
        payment_intent=intent,
        amount_minor=500,
    )
    assert (await paying.webhook(*signed(paid))).status == 200
    assert (await _chat(paying, key)).status == 200
    # The stack's billing charges the chat from the usage stream.
    user_id = uuid.UUID(account.id)
    for _ in range(200):
        if await db.fetchval(
            "SELECT count(*) FROM billing.usage_charges WHERE user_id = $1", user_id
        ):
            break
        await asyncio.sleep(0.05)
    spent = Decimal(5) - await db.fetchval(
        "SELECT balance FROM billing.accounts WHERE user_id = $1", user_id
    )
    assert spent > 0
    refund = _charge_refunded(intent, 500)
    refund["data"]["object"]["amount"] = 500
    response = await paying.webhook(*signed(refund))
    assert (await response.json())["outcome"] == "refunded"
    assert (
        await db.fetchval("SELECT balance FROM billing.accounts WHERE user_id = $1", user_id)
        == -spent
    )
    refused = await _chat(paying, key)
    assert refused.status == 402
    error = (await refused.json())["error"]
    assert error["type"] == "insufficient_quota"  # OpenAI's own shape
    # The next top-up pays the debt first, then relaying works again.
    again = await (await paying.topup(account, "5")).json()
    paid_again = session_event(
        again["order_id"], session_id=again["provider_payment_id"], amount_minor=500
    )
    assert (await paying.webhook(*signed(paid_again, at=time.time()))).status == 200
    assert (
        await db.fetchval("SELECT balance FROM billing.accounts WHERE user_id = $1", user_id)
        == 5 - spent
    )
    assert (await _chat(paying, key)).status == 200


@pytest.mark.parametrize("outcome", ["won", "lost"])
async def test_an_open_dispute_suspends_relaying_until_it_closes(
    paying: PaymentsStack, common: Common, db: Any, outcome: str
) -> None:
    from tests.billing.test_refunds_disputes import _dispute

    relayable = _Relayable(paying.gateway, paying.stack.mock, common)
    await add_mock_channels(relayable)
    await add_prices(relayable)
    account = await paying.user()
    key = (await create_key(paying.stack.gateway, account))["key"]
    intents = []
    for _ in range(2):  # two top-ups of 5.00: one will be disputed
        order = await (await paying.topup(account, "5")).json()
        intent = "pi_" + uuid.uuid4().hex
        intents.append(intent)
        paid = session_event(
            order["order_id"],
            session_id=order["provider_payment_id"],
            payment_intent=intent,
            amount_minor=500,
        )
        assert (await paying.webhook(*signed(paid))).status == 200
    assert (await _chat(paying, key)).status == 200
    opened = await paying.webhook(*signed(_dispute(intents[0], amount=500)))
    assert (await opened.json())["outcome"] == "disputed"
    # About 5.00 is left, but nothing is relayed while the dispute is open.
    refused = await _chat(paying, key)
    assert refused.status == 402
    balance = await (
        await paying.gateway.get(
            "/api/billing/balance", headers={"Authorization": f"Bearer {account.token}"}
        )
    ).json()
    assert Decimal(balance["balance"]) > 4 and balance["available"] == "0.00"
    closed = await paying.webhook(*signed(_dispute(intents[0], closed=outcome, amount=500)))
    assert (await closed.json())["outcome"] == f"dispute_{outcome}"
    assert (await _chat(paying, key)).status == 200
