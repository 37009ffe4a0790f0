"""`services.cli.credit`: the CLI's credit, with the API's rules and answers."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.billing.errors import IdempotencyKeyReused
from services.cli.credit import credit
from shared.errors import Unprocessable


async def test_the_cli_credits_once_per_key(database_url: str, db: Any) -> None:
    user = uuid.uuid4()
    first = await credit(
        database_url, user=str(user), amount="25", reason="invoice 7", idempotency_key="inv-7"
    )
    again = await credit(
        database_url,
        user=str(user),
        amount=Decimal("25.00"),
        reason="invoice 7",
        idempotency_key="inv-7",
    )
    assert first == again and first["balance"] == "25.00" and first["user_id"] == str(user)
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 1
    with pytest.raises(IdempotencyKeyReused):
        await credit(
            database_url, user=str(user), amount="26", reason="invoice 7", idempotency_key="inv-7"
        )


async def test_the_cli_refuses_what_the_api_refuses(database_url: str, db: Any) -> None:
    with pytest.raises(Unprocessable) as refused:
        await credit(
            database_url, user="bob@example.com", amount="-1", reason="", idempotency_key="k"
        )
    assert refused.value.details is not None and len(refused.value.details) == 3
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0
