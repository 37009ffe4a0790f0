"""An administrator refunds an order through the provider (the mock payment
provider's Stripe API, over real HTTP): the reversal is posted at once, the
provider's own charge.refunded webhook then changes nothing, a repeated
request refunds nothing twice, and reconcile stays clean."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.billing import ledger
from services.cli.reconcile import reconcile
from shared.settings import Common
from tests.accounts import Account
from tests.billing.conftest import make_admin
from tests.billing.payments_stack import PaymentsStack
from tests.billing.stripe_mock import Mock, balance_of, stripe_with_mock
from tests.conftest import AiohttpClient, AiohttpServer, Stack


@pytest.fixture
async def with_mock(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> tuple[PaymentsStack, Mock]:
    return await stripe_with_mock(
        stack, common, aiohttp_server, aiohttp_client, retry_delays=(0.2,)
    )


def _auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


async def _paid_order(paying: PaymentsStack, mock: Mock, db: Any) -> tuple[Account, str]:
    account = await paying.user()
    order = await (await paying.topup(account, "10.50")).json()
    await mock.control(f"/_mock/stripe/sessions/{order['provider_payment_id']}/pay")
    for _ in range(200):
        if (
            await db.fetchval(
                "SELECT status FROM billing.orders WHERE id = $1", uuid.UUID(order["order_id"])
            )
        ) == "paid":
            break
        await asyncio.sleep(0.02)
    return account, order["order_id"]


async def _refund(paying: PaymentsStack, admin: Account, order_id: str, **body: Any) -> Any:
    return await paying.gateway.post(
        f"/api/admin/orders/{order_id}/refund",
        json={"reason": "customer asked", **body},
        headers=_auth(admin),
    )


async def _quiet(mock: Mock) -> None:
    """Until the mock has delivered every webhook it has."""
    for _ in range(200):
        deliveries = (await mock.deliveries())["deliveries"]
        if all(d["status"] not in ("pending", "held") for d in deliveries):
            return
        await asyncio.sleep(0.02)


async def test_an_admin_refunds_part_then_the_rest(
    with_mock: tuple[PaymentsStack, Mock], db: Any, common: Common
) -> None:
    paying, mock = with_mock
    admin = await make_admin(paying.stack, db)
    account, order_id = await _paid_order(paying, mock, db)
    async with db.transaction():  # the user spends 8.00 of it
        user = await ledger.user_account(db, uuid.UUID(account.id))
        revenue = await ledger.system_account(db, "revenue")
        await ledger.post(
            db, "adjustment", [(user, Decimal(-8)), (revenue, Decimal(8))], reason="spent"
        )
    response = await _refund(paying, admin, order_id, amount="3.00")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["order"]["status"] == "partially_refunded"
    assert body["order"]["refunded_minor"] == 300
    assert body["refund"]["amount_minor"] == 300 and body["refund"]["id"].startswith("re_")
    assert await balance_of(db, account.id) == Decimal("-0.50")
    await _quiet(mock)  # the provider's charge.refunded (total 300) changes nothing
    assert await balance_of(db, account.id) == Decimal("-0.50")
    # The rest, twice at once (a double click): refunded once.
    first, second = await asyncio.gather(
        _refund(paying, admin, order_id), _refund(paying, admin, order_id)
    )
    statuses = sorted([first.status, second.status])
    assert statuses[0] == 200, statuses
    await _quiet(mock)
    assert await balance_of(db, account.id) == Decimal("-8.00")
    mine = await paying.gateway.get(f"/api/billing/orders/{order_id}", headers=_auth(account))
    assert (await mine.json())["status"] == "refunded"
    reversals = await db.fetchval(
        "SELECT sum(amount) FROM billing.order_postings WHERE order_id = $1 AND kind = 'refund'",
        uuid.UUID(order_id),
    )
    assert reversals == Decimal("10.50")
    # Nothing left to refund.
    assert (await _refund(paying, admin, order_id)).status == 409
    violations, _ = await reconcile(common.database_url, common.redis_url)
    assert violations == []
    listed = await paying.gateway.get("/api/admin/orders?status=refunded", headers=_auth(admin))
    assert [o["id"] for o in (await listed.json())["data"]] == [order_id]


async def test_refusals(with_mock: tuple[PaymentsStack, Mock], db: Any) -> None:
    paying, mock = with_mock
    admin = await make_admin(paying.stack, db)
    account, order_id = await _paid_order(paying, mock, db)
    too_much = await _refund(paying, admin, order_id, amount="10.51")
    assert too_much.status == 422
    assert "at most 10.50 USD" in " ".join((await too_much.json())["error"]["details"])
    assert (await _refund(paying, admin, order_id, amount=1)).status == 422
    assert (await _refund(paying, admin, order_id, reason=" ")).status == 422
    assert (await _refund(paying, account, order_id)).status == 403  # not an admin
    assert (await _refund(paying, admin, str(uuid.uuid4()))).status == 404
    pending = await (await paying.topup(account, "5")).json()
    assert (await _refund(paying, admin, pending["order_id"])).status == 409
    assert await balance_of(db, account.id) == Decimal("10.50")
    listed = await paying.gateway.get("/api/admin/orders?status=bogus", headers=_auth(admin))
    assert listed.status == 422
    everyone = await paying.gateway.get(
        f"/api/admin/orders?user_id={account.id}", headers=_auth(admin)
    )
    assert len((await everyone.json())["data"]) == 2


async def test_one_order_and_a_form_sent_again(
    with_mock: tuple[PaymentsStack, Mock], db: Any
) -> None:
    paying, mock = with_mock
    admin = await make_admin(paying.stack, db)
    account, order_id = await _paid_order(paying, mock, db)
    first = await _refund(paying, admin, order_id, amount="2.00", seen_refunded_minor=0)
    assert first.status == 200, await first.text()
    # The same form sent again later (it saw nothing refunded): nothing more.
    again = await _refund(paying, admin, order_id, amount="2.00", seen_refunded_minor=0)
    assert again.status == 409
    assert "since the page was shown" in (await again.json())["error"]["message"]
    assert (await _refund(paying, admin, order_id, seen_refunded_minor="0")).status == 422
    assert await balance_of(db, account.id) == Decimal("8.50")
    shown = await paying.gateway.get(f"/api/admin/orders/{order_id}", headers=_auth(admin))
    assert shown.status == 200
    body = await shown.json()
    assert body["status"] == "partially_refunded" and body["refunded_minor"] == 200
    assert body["user_id"] == account.id
    assert [(a["kind"], a["amount"]) for a in body["adjustments"]] == [("refund", "2.00")]
    missing = await paying.gateway.get(f"/api/admin/orders/{uuid.uuid4()}", headers=_auth(admin))
    assert missing.status == 404
    mine = await paying.gateway.get(f"/api/admin/orders/{order_id}", headers=_auth(account))
    assert mine.status == 403
