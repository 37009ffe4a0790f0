"""A key's spend budget as one more limit of the hold's script (DESIGN 13).

Pure: no IO. A key with a budget (`Principal.budget`: USD per UTC day, per
UTC month, or in total) is admitted against its counter for the current
period (`shared/key_budgets.py`): the request's hold is its cost there, so
requests running at once cannot together spend more than the budget. A
refusal is 402 `budget_exceeded`, not 429: retrying cannot help before the
period ends, and the client families' SDKs retry a 429 (OpenAI's and
Anthropic's by default) but hand a 402 to the caller at once; the message
names the budget, what is left and what the request may cost, in the
client's own error format.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.gateway.admission.principals import Budget, Principal
from shared import key_budgets
from shared.errors import PaymentRequired
from shared.holds import from_nano, to_nano_down, to_nano_up
from shared.limits import Kind, Limit, Scope

# Lua numbers are doubles: exact to 2**53 nano-USD (about 9 million USD); a
# budget above that is a budget of that much.
MAX_NANO = 2**53
_PER = {"day": "per day (UTC)", "month": "per month (UTC)", "total": "in total"}


@dataclass(frozen=True, slots=True)
class PlannedBudget:
    """The budget limit of one request, and what its counter's seed needs."""

    limit: Limit
    user_id: uuid.UUID
    key_id: uuid.UUID
    budget: Budget
    since: datetime | None  # the period's start; None: `total`
    expire_at_ms: int  # when the counter may go (0: never)


class BudgetExceeded(PaymentRequired):
    """The key's budget for the period cannot cover the request's worst case."""

    code = "budget_exceeded"

    def __init__(self, budget: Budget, left: Decimal, amount: Decimal) -> None:
        super().__init__(
            f"key budget exceeded: this key may spend {_usd(budget.usd)} USD"
            f" {_PER[budget.period]}; {_usd(left)} USD is left and this request"
            f" may cost up to {_usd(amount)} USD"
        )


def plan_budget(principal: Principal, amount: Decimal, now: datetime) -> PlannedBudget | None:
    """The budget limit for a request holding `amount`; None when the key has none."""
    budget = principal.budget
    if budget is None or principal.key_id is None:
        return None
    period = budget.period
    limit = Limit(
        key_budgets.counter_key(
            principal.user_id, principal.key_id, key_budgets.period_id(period, now)
        ),
        Kind.BUDGET,
        Scope.KEY,
        min(to_nano_down(budget.usd), MAX_NANO),
        to_nano_up(amount),
    )
    return PlannedBudget(
        limit=limit,
        user_id=principal.user_id,
        key_id=principal.key_id,
        budget=budget,
        since=key_budgets.period_start(period, now),
        expire_at_ms=key_budgets.expire_at_ms(period, now),
    )


def refused(planned: PlannedBudget, left_nano: int, amount: Decimal) -> BudgetExceeded:
    return BudgetExceeded(planned.budget, from_nano(left_nano), amount)


def _usd(amount: Decimal) -> str:
    return f"{amount.normalize():f}" if amount else "0"
