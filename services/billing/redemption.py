"""Redemption codes: batches an admin creates, codes a user redeems once.

Rules:

- A code is 140 random bits (`secrets`), written as 28 characters of
  Crockford's base32 in groups of four (`K7QM-2XHD-...`). It is shown once, in
  the answer that creates its batch, and stored only as the SHA-256 of its
  normalised text: upper case, dashes and spaces dropped, O read as 0 and I, L
  as 1. With 140 random bits a plain hash is enough (no one can try 2^140
  guesses), so no server secret is needed to keep a leaked table useless.
- A redemption is one database transaction: the code's conditional UPDATE
  (`... WHERE code_hash = $1 AND redeemed_at IS NULL AND the batch has not
  expired RETURNING ...`), then the credit: a 'top_up' ledger transaction
  through `credits.grant`, whose idempotency key is the code's id, and the
  code row pointing at it. Never a read then a write: of any number of
  concurrent redemptions of one code, PostgreSQL lets one UPDATE match the
  row; the others wait for it, re-check the condition, match nothing and are
  refused. A failed credit rolls the redemption back with it.
- A code that is wrong, already redeemed (by anyone, the caller included) or
  expired gets the same refusal (`NotRedeemable`); see `redeem_handlers`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.billing import credits
from shared.errors import ApiError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
CODE_CHARACTERS = 28  # 28 * 5 = 140 random bits
GROUP = 4
MAX_BATCH = 1000
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


class NotRedeemable(ApiError):
    """Wrong, used or expired: one answer for all three (see `redeem_handlers`)."""

    status = 400
    code = "code_not_redeemable"


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARACTERS))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_CHARACTERS, GROUP))


def normalise(code: str) -> str:
    return code.strip().upper().translate(_READ_AS)


def code_hash(code: str) -> bytes:
    return hashlib.sha256(normalise(code).encode()).digest()


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    amount: Decimal
    currency: str
    count: int
    redeemed: int
    note: str | None
    expires_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Redeemed:
    code_id: uuid.UUID
    batch_id: int
    amount: Decimal
    currency: str
    transaction_id: int
    balance: Decimal


_BATCH = (
    "b.id, b.amount, b.currency, b.count, "
    "(SELECT count(*) FROM billing.redemption_codes c "
    " WHERE c.batch_id = b.id AND c.redeemed_at IS NOT NULL)::int AS redeemed, "
    "b.note, b.expires_at, b.created_by, b.created_at"
)


async def create_batch(
    connection: Any,
    *,
    count: int,
    amount: Decimal,
    expires_at: datetime | None,
    note: str | None,
    created_by: uuid.UUID,
) -> tuple[Batch, list[str]]:
    """A new batch and its codes (the only time the codes exist in the clear)."""
    if not 1 <= count <= MAX_BATCH:
        raise ValueError(f"count must be from 1 to {MAX_BATCH}")
    codes = [new_code() for _ in range(count)]
    async with connection.transaction():
        batch_id: int = await connection.fetchval(
            "INSERT INTO billing.redemption_batches (amount, count, note, expires_at, created_by) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            amount,
            count,
            note,
            expires_at,
            created_by,
        )
        await connection.execute(
            "INSERT INTO billing.redemption_codes (id, batch_id, code_hash) "
            "SELECT i, $1, h FROM unnest($2::uuid[], $3::bytea[]) AS x(i, h)",
            batch_id,
            [uuid.uuid4() for _ in codes],
            [code_hash(code) for code in codes],
        )
        batch = await _batch(connection, batch_id)
    return batch, codes


async def _batch(connection: Any, batch_id: int) -> Batch:
    row = await connection.fetchrow(
        f"SELECT {_BATCH} FROM billing.redemption_batches b WHERE b.id = $1", batch_id
    )
    return Batch(**dict(row))


async def list_batches(connection: Any, *, limit: int, before: int | None) -> list[Batch]:
    """Batches, newest first, those with an id below `before`."""
    rows = await connection.fetch(
        f"SELECT {_BATCH} FROM billing.redemption_batches b "
        "WHERE ($1::bigint IS NULL OR b.id < $1) ORDER BY b.id DESC LIMIT $2",
        before,
        limit,
    )
    return [Batch(**dict(row)) for row in rows]


async def redeem(connection: Any, code: str, user_id: uuid.UUID) -> Redeemed:
    """Redeem `code` for `user_id` and credit them, or raise `NotRedeemable`."""
    async with connection.transaction():
        row = await connection.fetchrow(
            "UPDATE billing.redemption_codes c SET redeemed_by = $2, redeemed_at = now() "
            "FROM billing.redemption_batches b "
            "WHERE c.code_hash = $1 AND b.id = c.batch_id AND c.redeemed_at IS NULL "
            "AND (b.expires_at IS NULL OR b.expires_at > now()) "
            "RETURNING c.id, b.id AS batch_id, b.amount, b.currency",
            code_hash(code),
            user_id,
        )
        if row is None:
            raise NotRedeemable(
                "this code cannot be redeemed: it is not a valid code, "
                "or it was already used, or it has expired"
            )
        answer = await credits.grant(
            connection,
            credits.CreditRequest(
                user_id=user_id,
                amount=row["amount"],
                reason=f"redemption code (batch {row['batch_id']})",
                idempotency_key=f"redemption:{row['id']}",
            ),
        )
        await connection.execute(
            "UPDATE billing.redemption_codes SET transaction_id = $2 WHERE id = $1",
            row["id"],
            answer["transaction_id"],
        )
    return Redeemed(
        code_id=row["id"],
        batch_id=row["batch_id"],
        amount=row["amount"],
        currency=row["currency"],
        transaction_id=answer["transaction_id"],
        balance=Decimal(answer["balance"]),
    )


# For `reconcile`: redeemed codes whose credit is not exactly one 'top_up' of
# the batch's amount to the redeemer (missing, of another kind or amount, to
# someone else), and credits keyed by a code that no code points at.
RECONCILE = """
SELECT c.id, c.redeemed_by, c.transaction_id, b.amount,
       COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user'), 0) AS credited
FROM billing.redemption_codes c
JOIN billing.redemption_batches b ON b.id = c.batch_id
LEFT JOIN billing.ledger_transactions t ON t.id = c.transaction_id
LEFT JOIN billing.ledger_entries e ON e.transaction_id = t.id
LEFT JOIN billing.accounts a ON a.id = e.account_id
WHERE c.redeemed_at IS NOT NULL
GROUP BY c.id, c.redeemed_by, c.transaction_id, b.amount, t.kind
HAVING t.kind IS DISTINCT FROM 'top_up'
    OR COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user'), 0) <> b.amount
    OR bool_or(a.kind = 'user' AND a.user_id IS DISTINCT FROM c.redeemed_by)
UNION ALL
SELECT NULL, NULL, r.transaction_id, NULL, NULL
FROM billing.credit_requests r
WHERE r.idempotency_key LIKE 'redemption:%'
  AND NOT EXISTS (SELECT 1 FROM billing.redemption_codes c
                  WHERE c.transaction_id = r.transaction_id
                    AND 'redemption:' || c.id::text = r.idempotency_key)
ORDER BY 3
"""


def describe_problem(row: Any) -> str:
    if row["id"] is None:
        return (
            f"redemption codes: ledger transaction {row['transaction_id']} is a code's credit "
            "that no redeemed code points at"
        )
    return (
        f"redemption codes: code {row['id']} redeemed by {row['redeemed_by']} is not credited "
        f"exactly once with its amount (transaction {row['transaction_id']}, "
        f"credited {row['credited']}, amount {row['amount']})"
    )
