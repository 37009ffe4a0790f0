"""Admin credits (top-ups), exactly once per idempotency key.

Rules:

- A credit is one 'top_up' ledger transaction: topups -amount, user +amount.
- An idempotency key is spent once. Its first request posts the credit and
  stores its answer together with a hash of the request (user, amount as a
  number, reason). A later request with the key and the same hash gets the
  stored answer, unchanged; with another hash it is refused
  (`IdempotencyKeyReused`, 409).
- Race-safe without a read-then-write: the key's row is inserted in the same
  database transaction as the posting, last, with ON CONFLICT DO NOTHING. A
  concurrent request with the same key waits on that insert, finds the key
  taken, rolls its own posting back and answers from the stored row. One key,
  one ledger transaction, whatever the concurrency.
- The caller validates the amount (positive, at most 12 decimal places).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from services.billing import ledger
from services.billing.errors import IdempotencyKeyReused
from services.billing.money_fields import money


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditRequest:
    user_id: uuid.UUID
    amount: Decimal
    reason: str
    idempotency_key: str
    created_by: uuid.UUID | None = None

    def digest(self) -> str:
        """Equal for requests that mean the same credit ("10" and "10.00" alike)."""
        canonical = orjson.dumps(
            {
                "user_id": str(self.user_id),
                "amount": format(self.amount.normalize(), "f"),
                "reason": self.reason,
            },
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(canonical).hexdigest()


class _KeyTaken(Exception):
    """Another request spent the key while this one was posting."""


async def grant(connection: Any, request: CreditRequest) -> dict[str, Any]:
    """Credit the user once per key; the answer of the first request with it."""
    digest = request.digest()
    stored = await _stored(connection, request.idempotency_key)
    if stored is not None:
        return _replay(stored, digest)
    try:
        async with connection.transaction():
            return await _post(connection, request, digest)
    except _KeyTaken:
        stored = await _stored(connection, request.idempotency_key)
        assert stored is not None  # committed by the request that took the key
        return _replay(stored, digest)


async def _stored(connection: Any, key: str) -> Any:
    return await connection.fetchrow(
        "SELECT request_hash, response FROM billing.credit_requests WHERE idempotency_key = $1",
        key,
    )


def _replay(stored: Any, digest: str) -> dict[str, Any]:
    if stored["request_hash"] != digest:
        raise IdempotencyKeyReused(
            "this idempotency_key was already used for a different credit; "
            "use a new key for a new credit"
        )
    response: dict[str, Any] = stored["response"]
    return response


async def _post(connection: Any, request: CreditRequest, digest: str) -> dict[str, Any]:
    account = await ledger.user_account(connection, request.user_id)
    topups = await ledger.system_account(connection, "topups")
    transaction_id = await ledger.post(
        connection,
        "top_up",
        [(topups, -request.amount), (account, request.amount)],
        reason=request.reason,
        created_by=request.created_by,
    )
    row = await connection.fetchrow(
        "SELECT a.balance, a.currency, t.created_at FROM billing.accounts a, "
        "billing.ledger_transactions t WHERE a.id = $1 AND t.id = $2",
        account,
        transaction_id,
    )
    response = {
        "transaction_id": transaction_id,
        "user_id": str(request.user_id),
        "amount": money(request.amount),
        "balance": money(row["balance"]),
        "currency": row["currency"],
        "reason": request.reason,
        "idempotency_key": request.idempotency_key,
        "created_at": row["created_at"].isoformat(),
    }
    taken = await connection.fetchval(
        "INSERT INTO billing.credit_requests (idempotency_key, request_hash, transaction_id, "
        "response) VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING "
        "RETURNING true",
        request.idempotency_key,
        digest,
        transaction_id,
        response,
    )
    if not taken:
        raise _KeyTaken()
    return response
