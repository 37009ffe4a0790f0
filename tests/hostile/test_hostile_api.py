"""Generated hostile input on every `/api` route, as a user and as an admin.

Through the stack as `tollgate dev` runs it (every service a process): each
route gets `budget.API_EXAMPLES` probes per caller from the Hypothesis strategies of
`inputs.py` (hostile JSON, path segments, query strings, headers, framing).
No answer may be a 5xx, hang, or stop short; afterwards no service has logged
a traceback, the gateway answers at once, and the consumers and `reconcile`
are clean.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from tests.hostile import afterwards, budget, inputs, probes
from tests.hostile.barrage import fire, report
from tests.hostile.routes import Route, routes, spec_for
from tests.hostile.stack import HostileStack
from tests.hostile.tally import TALLY

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = routes("api")
CALLERS = ("user", "admin")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", API, ids=lambda route: route.key)
async def test_api_route_never_answers_5xx(
    hostile_stack: HostileStack, route: Route, caller: str
) -> None:
    spec = spec_for(route)
    assert spec is not None, f"no generator for {route.key}"
    token = hostile_stack.admin_token if caller == "admin" else hostile_stack.user_token
    drawn = probes.draw(
        probes.probes(route, spec, hostile_stack.known, token, relay=False),
        route.key,
        budget.examples(budget.API_EXAMPLES),
    )
    failures = await fire(hostile_stack, route.key, caller, drawn)
    assert failures == [], report(failures)


@st.composite
def _request_lines(draw: st.DrawFn) -> probes.Probe:
    """A request whose first line or framing is broken."""
    method = draw(st.sampled_from([*inputs.METHODS, b"", b"G\x00T", b"\xff"]))
    target = draw(
        st.sampled_from(
            [b"/api/me", b"*", b"api/me", b"http://evil/api/me", b"/api/me\x00", b"//", b"/%"]
        )
    )
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"HTTP/1.1x", b""]))
    ending = draw(st.sampled_from([b"\r\n", b"\n"]))
    line = method + b" " + target + (b" " + version if version else b"")
    raw = line + ending + b"Host: x" + ending + b"Connection: close" + ending + ending
    return probes.Probe(
        method=probes.RAW,
        target=raw,
        headers=[],
        body=None,
        kind="broken request line",
        may_close=True,
    )


async def test_malformed_http_never_answers_5xx(hostile_stack: HostileStack) -> None:
    drawn = probes.draw(
        _request_lines(), "malformed HTTP", budget.examples(budget.MALFORMED_EXAMPLES)
    )
    failures = await fire(hostile_stack, "malformed HTTP", "none", drawn)
    assert failures == [], report(failures)


async def test_afterwards_no_traceback_gateway_answers_consumers_and_reconcile_clean(
    hostile_stack: HostileStack,
) -> None:
    problems = afterwards.log_problems(hostile_stack.logs)
    problems += await afterwards.answers_at_once(hostile_stack, relay=False)
    problems += await afterwards.settled(hostile_stack)
    for line in problems:
        TALLY.add_failure(afterwards.as_failure("api module", line))
    assert problems == [], afterwards.summary(problems)
