"""`services.cli.credit`: the CLI's credit, with the API's rules and answers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.auth import store as auth_store
from services.billing.errors import IdempotencyKeyReused
from services.cli.credit import credit
from shared.errors import NotFound, Unprocessable
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


async def _user(db: Any) -> uuid.UUID:
    name = f"user_{uuid.uuid4().hex[:8]}"
    user = await auth_store.create_user(
        db, email=f"{name}@example.com", username=name, password_hash="unused"
    )
    return user.id


async def test_the_cli_credits_once_per_key(database_url: str, db: Any) -> None:
    user = await _user(db)
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


async def test_the_cli_refuses_a_user_nobody_has(database_url: str, db: Any) -> None:
    with pytest.raises(NotFound) as refused:
        await credit(
            database_url, user=str(uuid.uuid4()), amount="5", reason="r", idempotency_key="k"
        )
    assert refused.value.message.startswith("user_id: no user has this id")
    assert await db.fetchval("SELECT count(*) FROM billing.accounts WHERE kind = 'user'") == 0
    assert await db.fetchval("SELECT count(*) FROM billing.ledger_transactions") == 0


def test_tollgate_admin_credit_to_a_user_nobody_has_fails(
    database_url: str, db: Any, tmp_path: Path
) -> None:
    """On 0c207e1 it printed a new balance for the id and exited 0."""
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "admin", "credit"]
        + ["--user-id", str(uuid.uuid4()), "--amount", "5", "--reason", "r"]
        + ["--idempotency-key", uuid.uuid4().hex],
        cwd=ROOT,
        env={
            **os.environ,
            "TOLLGATE_ENV": "dev",
            "TOLLGATE_DATA_DIR": str(tmp_path),
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0, result.stdout
    assert "credit refused: user_id: no user has this id" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
