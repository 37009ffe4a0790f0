"""The billing schema's money invariants (DESIGN.md section 5), checked.

`check_ledger` returns one message per violation, naming the ids involved;
an empty list means the ledger is sound. It only reads, and reads a
consistent snapshot when the caller runs it in a REPEATABLE READ transaction
(the `reconcile` command does). Each check reports at most `LIMIT`
violations and then how many more there are. Checked:

1. every usage charge that cost something has its ledger transaction, and
   that transaction moves exactly what the charge says (user -charged,
   revenue +cost, writeoff -written_off); every usage-charge transaction has
   its dedupe record;
2. every account's balance equals the sum of its entries; every transaction
   sums to zero and has at least two entries; all entries sum to zero; a
   user entry's `balance_after` is the running sum of the account's entries;
4. no balance is below its floor, but for the debt a refund or dispute
   reversal left (`accounts.debt`, migration 0006).

And for redemption codes (`redemption.RECONCILE`): every redeemed code has
exactly one 'top_up' of its batch's amount to its redeemer, and every credit
keyed by a code belongs to that code.

And for top-up orders (`payments.order_checks.RECONCILE`): every paid (or later
refunded or disputed) order has exactly one credit, a 'top_up' of its credit
to its user; no other order has one; no top-up names an order it is not the
credit of; what refunds and disputes took back is the credit's share of what
was refunded (`payments.order_checks.REVERSALS`), each reversal moving its amount.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.billing import redemption
from services.billing.money_fields import money
from services.billing.payments import order_checks

LIMIT = 100

_BALANCES = """
SELECT a.id, a.kind, a.user_id, a.balance, COALESCE(s.total, 0) AS total
FROM billing.accounts a
LEFT JOIN (SELECT account_id, sum(amount) AS total FROM billing.ledger_entries
           GROUP BY account_id) s ON s.account_id = a.id
WHERE a.balance <> COALESCE(s.total, 0)
ORDER BY a.id
"""

_TRANSACTIONS = """
SELECT t.id, COALESCE(sum(e.amount), 0) AS total, count(e.id) AS entries
FROM billing.ledger_transactions t
LEFT JOIN billing.ledger_entries e ON e.transaction_id = t.id
GROUP BY t.id
HAVING COALESCE(sum(e.amount), 0) <> 0 OR count(e.id) < 2
ORDER BY t.id
"""

_FLOORS = """
SELECT id, kind, user_id, balance, floor FROM billing.accounts
WHERE floor IS NOT NULL AND balance < floor - debt ORDER BY id
"""

_RUNNING = """
SELECT id, account_id, balance_after, running FROM (
    SELECT e.id, e.account_id, e.balance_after,
           sum(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running
    FROM billing.ledger_entries e JOIN billing.accounts a ON a.id = e.account_id
    WHERE a.kind = 'user'
) AS entries
WHERE balance_after IS DISTINCT FROM running
ORDER BY id
"""

# What each usage charge's ledger transaction moved, by kind of account.
_CHARGES = """
SELECT c.event_id, c.transaction_id, c.cost, c.charged, c.written_off,
       t.kind, t.event_id AS transaction_event,
       COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user'), 0) AS user_amount,
       COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'revenue'), 0) AS revenue_amount,
       COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'writeoff'), 0) AS writeoff_amount,
       bool_and(a.user_id IS NULL OR a.user_id = c.user_id) AS right_user
FROM billing.usage_charges c
LEFT JOIN billing.ledger_transactions t ON t.id = c.transaction_id
LEFT JOIN billing.ledger_entries e ON e.transaction_id = t.id
LEFT JOIN billing.accounts a ON a.id = e.account_id
WHERE c.cost > 0 OR c.transaction_id IS NOT NULL
GROUP BY c.event_id, c.transaction_id, c.cost, c.charged, c.written_off, t.kind, t.event_id
HAVING t.kind IS DISTINCT FROM 'usage_charge'
    OR t.event_id IS DISTINCT FROM c.event_id
    OR COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user'), 0) <> -c.charged
    OR COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'revenue'), 0) <> c.cost
    OR COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'writeoff'), 0) <> -c.written_off
    OR NOT bool_and(a.user_id IS NULL OR a.user_id = c.user_id)
ORDER BY c.event_id
"""

_UNRECORDED = """
SELECT t.id, t.event_id FROM billing.ledger_transactions t
WHERE t.kind = 'usage_charge'
  AND NOT EXISTS (SELECT 1 FROM billing.usage_charges c WHERE c.event_id = t.event_id)
ORDER BY t.id
"""


def _account(row: Any) -> str:
    owner = f"user {row['user_id']}" if row["user_id"] is not None else row["kind"]
    return f"account {row['id']} ({owner})"


async def _found(connection: Any, query: str, describe: Callable[[Any], str]) -> list[str]:
    rows = await connection.fetch(query)
    messages = [describe(row) for row in rows[:LIMIT]]
    if len(rows) > LIMIT:
        messages.append(f"... and {len(rows) - LIMIT} more like the above")
    return messages


async def check_ledger(connection: Any) -> list[str]:
    """Every violation of the billing invariants, one message each."""
    problems = await _found(
        connection,
        _BALANCES,
        lambda r: (
            f"invariant 2: {_account(r)}: balance {money(r['balance'])} "
            f"!= sum of its entries {money(r['total'])}"
        ),
    )
    problems += await _found(
        connection,
        _TRANSACTIONS,
        lambda r: (
            f"invariant 2: ledger transaction {r['id']}: {r['entries']} entries "
            f"summing to {money(r['total'])} (must be at least 2, summing to 0)"
        ),
    )
    total = await connection.fetchval("SELECT COALESCE(sum(amount), 0) FROM billing.ledger_entries")
    if total != 0:
        problems.append(f"invariant 2: all ledger entries sum to {money(total)}, not 0")
    problems += await _found(
        connection,
        _RUNNING,
        lambda r: (
            f"invariant 2: ledger entry {r['id']} of account {r['account_id']}: "
            f"balance_after {r['balance_after']} != running sum {money(r['running'])}"
        ),
    )
    problems += await _found(
        connection,
        _FLOORS,
        lambda r: (
            f"invariant 4: {_account(r)}: balance {money(r['balance'])} "
            f"is below its floor {money(r['floor'])}"
        ),
    )
    problems += await _found(
        connection,
        _CHARGES,
        lambda r: (
            f"invariant 1: usage charge {r['event_id']} (cost {money(r['cost'])}, "
            f"charged {money(r['charged'])}, written off {money(r['written_off'])}) does not "
            f"match its ledger transaction {r['transaction_id']}"
        ),
    )
    problems += await _found(
        connection,
        _UNRECORDED,
        lambda r: (
            f"invariant 1: ledger transaction {r['id']} charges event {r['event_id']} "
            "which has no usage charge record"
        ),
    )
    problems += await _found(connection, redemption.RECONCILE, redemption.describe_problem)
    problems += await _found(connection, order_checks.RECONCILE, order_checks.describe_problem)
    problems += await _found(connection, order_checks.REVERSALS, order_checks.describe_reversal)
    return problems
