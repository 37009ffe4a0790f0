"""Generated hostile input on every relay route, with the funded user's API key.

The relay routes of the gateway's routes.py (OpenAI, Anthropic and Gemini
families, the model catalogs, the catch-alls) get `budget.RELAY_EXAMPLES` probes each,
with the key where each family's clients put it. No answer may be a 5xx, hang
or stop short; afterwards no service has logged a traceback, the gateway
answers at once, billing and usage have caught up (lag 0, nothing pending) and
`reconcile` is clean: whatever a hostile request put in a usage event, it was
charged and recorded.
"""

from __future__ import annotations

import pytest

from tests.hostile import afterwards, budget, probes
from tests.hostile.barrage import fire, report
from tests.hostile.routes import Route, routes, spec_for
from tests.hostile.stack import HostileStack
from tests.hostile.tally import TALLY

pytestmark = pytest.mark.asyncio(loop_scope="module")

RELAY = routes("relay")


@pytest.mark.parametrize("route", RELAY, ids=lambda route: route.key)
async def test_relay_route_never_answers_5xx(hostile_stack: HostileStack, route: Route) -> None:
    spec = spec_for(route)
    assert spec is not None, f"no generator for {route.key}"
    drawn = probes.draw(
        probes.probes(route, spec, hostile_stack.known, hostile_stack.api_key, relay=True),
        route.key,
        budget.examples(budget.RELAY_EXAMPLES),
    )
    failures = await fire(hostile_stack, route.key, "api key", drawn)
    assert failures == [], report(failures)


async def test_afterwards_no_traceback_gateway_answers_consumers_and_reconcile_clean(
    hostile_stack: HostileStack,
) -> None:
    problems = afterwards.log_problems(hostile_stack.logs)
    problems += await afterwards.answers_at_once(hostile_stack, relay=True)
    problems += await afterwards.settled(hostile_stack)
    for line in problems:
        TALLY.add_failure(afterwards.as_failure("relay module", line))
    assert problems == [], afterwards.summary(problems)
