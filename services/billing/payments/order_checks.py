"""The orders' part of `tollgate reconcile`: credits and reversals agree with the ledger."""

from __future__ import annotations

from typing import Any

from services.billing.money_fields import money

# For `tollgate reconcile` (services/billing/reconcile.py): every order in a
# credited state has exactly one credit posting, a 'top_up' ledger transaction
# moving exactly its credit to its user; no other order has one; and no
# 'top_up' transaction names an order (its reason) without being that order's
# credit, which catches a credit posted twice by hand or by a bug.
RECONCILE = """
SELECT o.id, o.status, o.credit, count(DISTINCT p.transaction_id) AS credits,
       COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user' AND a.user_id = o.user_id), 0)
           AS credited,
       min(p.transaction_id) AS transaction_id
FROM billing.orders o
LEFT JOIN billing.order_postings p ON p.order_id = o.id AND p.kind = 'credit'
LEFT JOIN billing.ledger_transactions t ON t.id = p.transaction_id
LEFT JOIN billing.ledger_entries e ON e.transaction_id = t.id
LEFT JOIN billing.accounts a ON a.id = e.account_id
GROUP BY o.id, o.status, o.credit
HAVING (o.status IN ('paid', 'partially_refunded', 'refunded', 'disputed')
        AND (count(DISTINCT p.transaction_id) <> 1
             OR COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'user' AND a.user_id = o.user_id), 0)
                <> o.credit
             OR bool_or(t.kind IS DISTINCT FROM 'top_up')
             OR bool_or(p.amount <> o.credit)))
    OR (o.status NOT IN ('paid', 'partially_refunded', 'refunded', 'disputed')
        AND count(DISTINCT p.transaction_id) > 0)
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, t.id
FROM billing.ledger_transactions t
WHERE t.kind = 'top_up' AND t.reason LIKE 'top-up: order %'
  AND NOT EXISTS (SELECT 1 FROM billing.order_postings p
                  WHERE p.transaction_id = t.id AND p.kind = 'credit'
                    AND t.reason LIKE 'top-up: order ' || p.order_id::text || ' %')
ORDER BY 6
"""


def describe_problem(row: Any) -> str:
    if row["id"] is None:
        return (
            f"orders: ledger transaction {row['transaction_id']} is a top-up credit naming an "
            "order whose credit it is not (an order credited twice?)"
        )
    return (
        f"orders: order {row['id']} ({row['status']}) is not credited exactly once with its "
        f"credit {money(row['credit'])}: {row['credits']} credit transaction(s) (first "
        f"{row['transaction_id']}), {money(row['credited'])} credited"
    )


# Reversals (refunds, disputes) agree with the order: what was taken back, less
# what won disputes gave back, is the credit's share of what the provider
# refunded (plus what an open dispute holds); and each reversal's ledger
# transaction moves exactly its amount on the order's user.
REVERSALS = """
SELECT o.id, o.status, o.refunded_minor, o.amount_minor, NULL::bigint AS transaction_id,
       COALESCE(sum(p.amount) FILTER (WHERE p.kind IN ('refund', 'dispute')), 0)
         - COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute_won'), 0) AS reversed
FROM billing.orders o
JOIN billing.order_postings p ON p.order_id = o.id
GROUP BY o.id, o.status, o.refunded_minor, o.amount_minor, o.credit
HAVING abs(
    COALESCE(sum(p.amount) FILTER (WHERE p.kind IN ('refund', 'dispute')), 0)
    - COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute_won'), 0)
    - o.credit * o.refunded_minor / o.amount_minor
    - CASE WHEN o.status = 'disputed'
           THEN COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute'), 0)
                - COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'dispute_won'), 0)
           ELSE 0 END
) > count(*) * 0.000000000001
UNION ALL
SELECT p.order_id, p.kind, NULL, NULL, p.transaction_id, p.amount
FROM billing.order_postings p
JOIN billing.orders o ON o.id = p.order_id
LEFT JOIN billing.ledger_entries e ON e.transaction_id = p.transaction_id
LEFT JOIN billing.accounts a ON a.id = e.account_id AND a.user_id = o.user_id
WHERE p.kind <> 'credit'
GROUP BY p.order_id, p.kind, p.transaction_id, p.amount
HAVING COALESCE(sum(e.amount) FILTER (WHERE a.id IS NOT NULL), 0)
       <> CASE p.kind WHEN 'dispute_won' THEN p.amount ELSE -p.amount END
ORDER BY 1
"""


def describe_reversal(row: Any) -> str:
    if row["transaction_id"] is not None:
        return (
            f"orders: order {row['id']}'s {row['status']} posting (ledger transaction "
            f"{row['transaction_id']}) does not move {money(row['reversed'])} on its user"
        )
    return (
        f"orders: order {row['id']} ({row['status']}) has {money(row['reversed'])} reversed, "
        f"which is not its credit's share of {row['refunded_minor']} of "
        f"{row['amount_minor']} minor units refunded"
    )
