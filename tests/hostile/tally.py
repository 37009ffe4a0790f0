"""What the hostile suite sent and got: counts per route, caller and outcome, and
the failures, for the closing report.

One `TALLY` per test process. Each test records every answer it gets; each
module's end writes the table to `hostile-counts.txt` under the run's
temporary directory, and the session's end (`conftest.pytest_terminal_summary`)
prints it. A failure names the route, the caller,
the kinds of hostile input (never the input itself) and what came back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile.wire import Outcome

FAILURES_SHOWN = 12


def printable(text: str) -> str:
    """`text` with every unprintable character escaped: a report stays one
    readable line whatever bytes an answer or a log line held."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


@dataclass(frozen=True, slots=True)
class Failure:
    route: str
    caller: str
    kind: str
    outcome: str
    excerpt: str = ""

    def __str__(self) -> str:
        excerpt = f" -- {self.excerpt}" if self.excerpt else ""
        return f"{self.route} as {self.caller}: {self.outcome} for {self.kind}{excerpt}"


def failed(outcome: Outcome, may_close: bool) -> bool:
    """A 5xx, a hang, an answer cut short or garbled, a server gone; `closed`
    only where allowed."""
    if outcome.kind in {"timeout", "cut", "garbled", "refused"}:
        return True
    if outcome.kind == "closed":
        return not may_close
    return outcome.status is not None and outcome.status >= 500


@dataclass
class Tally:
    counts: dict[tuple[str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    failures: list[Failure] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    report_path: Path | None = None

    def record(self, route: str, caller: str, outcome: Outcome, kind: str, may_close: bool) -> bool:
        """Count one answer; True (and kept) when it is a failure."""
        self.counts[(route, caller)][outcome.label] += 1
        if failed(outcome, may_close):
            excerpt = printable(outcome.body[:160].decode(errors="replace"))
            self.failures.append(Failure(route, caller, kind, outcome.label, excerpt))
            return True
        return False

    def add_failure(self, failure: Failure) -> None:
        self.failures.append(failure)

    def requests(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def table(self) -> str:
        """Requests per route and caller, and how many got each outcome."""
        if not self.counts:
            return "hostile suite: no requests sent"
        width = max(len(route) for route, _ in self.counts) + 2
        lines = [f"{'route':<{width}}{'caller':<8}{'sent':>6}  outcomes"]
        totals: Counter[str] = Counter()
        for (route, caller), counter in sorted(self.counts.items()):
            totals.update(counter)
            shown = " ".join(f"{label}:{n}" for label, n in sorted(counter.items()))
            lines.append(f"{route:<{width}}{caller:<8}{sum(counter.values()):>6}  {shown}")
        shown = " ".join(f"{label}:{n}" for label, n in sorted(totals.items()))
        lines.append(f"{'all routes':<{width}}{'':<8}{self.requests():>6}  {shown}")
        if self.seconds:
            timing = ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())
            lines.append(f"time: {timing}")
        return "\n".join(lines)

    def failure_report(self, limit: int = FAILURES_SHOWN) -> str:
        """Failures counted by route, caller and outcome (a problem found afterwards
        by its cause), then the first `limit` answers that failed, with their kinds."""
        if not self.failures:
            return "no failures"
        by_outcome = Counter((f.route, f.caller, f.outcome) for f in self.failures)
        lines = [f"{len(self.failures)} failures:"]
        for (route, caller, outcome), n in by_outcome.items():
            who = "" if caller == "-" else f" as {caller}"
            lines.append(f"  {n} x {route}{who}: {outcome}")
        answers = [f for f in self.failures if f.kind != "afterwards"]
        if answers:
            lines.append(f"first {min(limit, len(answers))} of {len(answers)} failed answers:")
            lines += [f"  {failure}" for failure in answers[:limit]]
        return "\n".join(lines)


TALLY = Tally()
