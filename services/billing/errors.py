"""Billing's errors, each with the status it answers (see `shared.errors`).

shared.errors.Conflict         409
├── BelowFloor                 a debit would take an account below its floor
└── IdempotencyKeyReused       the key was used before with another request
LedgerError                    an invariant the code itself broke: a bug,
                               never answered as anything but a 500
"""

from __future__ import annotations

from shared.errors import Conflict


class BelowFloor(Conflict):
    code = "below_floor"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class LedgerError(RuntimeError):
    """The ledger would become inconsistent; the database transaction is rolled back."""
