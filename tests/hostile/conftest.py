"""Fixtures of the hostile suite: the Hypothesis profile, one stack per module,
and the counts printed at the end of the run.

The profile (`tollgate-hostile`, used by `probes.draw` only, so other tests'
Hypothesis settings are left alone) is deterministic (each route's draw has a
fixed seed of its own), keeps no example database (nothing is written to
`.hypothesis/`), never shrinks (nothing fails inside a draw) and has no
deadline; how many probes a route gets is in `budget.py`. Each test module gets
its own stack (`stack.py`), started once and torn down after its last test, so
the modules neither see each other's state nor leave any behind.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.hostile import budget
from tests.hostile.probes import PROFILE
from tests.hostile.stack import HostileStack, open_stack
from tests.hostile.tally import TALLY

# Hypothesis keeps caches (constants it finds in the code, Unicode tables) even
# without an example database; they go to the temporary directory, not the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "tollgate-hypothesis")
settings.register_profile(
    PROFILE,
    max_examples=budget.API_EXAMPLES,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile_stack(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[HostileStack]:
    started = time.monotonic()
    name = request.module.__name__.rsplit(".", 1)[-1]
    async with AsyncExitStack() as exits:
        yield await open_stack(exits, database_url, tmp_path_factory.mktemp(name))
    TALLY.seconds[name] = time.monotonic() - started
    # Rewritten after each module, so the file holds every module's counts at the end.
    TALLY.report_path = tmp_path_factory.getbasetemp() / "hostile-counts.txt"
    TALLY.report_path.write_text(f"{TALLY.table()}\n\n{TALLY.failure_report(limit=50)}\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.counts:
        return
    terminalreporter.section("hostile inputs: requests per route and outcome")
    terminalreporter.write_line(TALLY.table())
    terminalreporter.write_line(TALLY.failure_report())
    if TALLY.report_path is not None:
        terminalreporter.write_line(f"(all of it in {TALLY.report_path})")
