"""Counts and timestamps of what the mock served: never a body, never a key.

Tests read them at `GET /mock/stats` (and clear them with `DELETE`) to check,
for instance, that the gateway closed its upstream connection within a second
of its own client going away: each answer that ends because the client left is
an `ended` entry with outcome `cancelled` and the wall-clock time the mock
noticed. Paths are kept without query strings (a Gemini `?key=` stays out).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

HISTORY = 1000


class Outcome(StrEnum):
    COMPLETED = "completed"  # the whole answer was written
    CANCELLED = "cancelled"  # the client went away first
    RESET = "reset"  # the mock aborted the connection on purpose (X-Mock-Reset-After)


@dataclass
class Exchange:
    """One answer in progress; `ended_at` is set when it finishes."""

    path: str
    stream: bool
    started_at: float
    ended_at: float | None = None
    outcome: str | None = None
    pieces_sent: int = 0


class Stats:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.requests = 0
        self.by_route: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.ended: deque[Exchange] = deque(maxlen=HISTORY)
        self._open_exchanges: dict[int, Exchange] = {}

    def request_seen(self, route: str) -> None:
        self.requests += 1
        self.by_route[route] += 1

    def begin(self, path: str, *, stream: bool) -> Exchange:
        exchange = Exchange(path=path, stream=stream, started_at=time.time())
        self._open_exchanges[id(exchange)] = exchange
        return exchange

    def end(self, exchange: Exchange, outcome: Outcome) -> None:
        if self._open_exchanges.pop(id(exchange), None) is None:
            return  # already ended, or cleared meanwhile
        exchange.ended_at = time.time()
        exchange.outcome = outcome.value
        self.outcomes[outcome.value] += 1
        self.ended.append(exchange)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_route": dict(self.by_route),
            "open": len(self._open_exchanges),
            "outcomes": {outcome.value: self.outcomes[outcome.value] for outcome in Outcome},
            "ended": [asdict(exchange) for exchange in self.ended],
        }
