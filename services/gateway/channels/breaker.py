"""A circuit breaker for one channel. Pure: the caller passes the clock.

States, and what moves between them:

    closed     --(N failures in a row, or an error ratio over the window)--> open
    open       --(open_seconds passed)-------------------------------------> half_open
    half_open  --(the one probe request succeeds)--------------------------> closed
    half_open  --(the probe fails)----------------------------------------> open

Closed lets every request through; open lets none; half-open lets exactly one
(the probe) through at a time, and a probe that ends without a verdict (its
client hung up) frees the slot for the next one. Separately, a rate-limited
channel cools down until the time its upstream asked for (`Retry-After`): no
request is sent to it meanwhile, and it counts as neither success nor failure.

The window keeps one bucket per second, so memory is bounded by the window's
length whatever the traffic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum


class BreakerState(IntEnum):
    """Values of the `tollgate_channel_breaker_state` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    consecutive_failures: int = 5
    window_seconds: int = 30
    min_requests: int = 20
    error_ratio: float = 0.5
    open_seconds: float = 15.0


class Breaker:
    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self._state = BreakerState.CLOSED
        self._opened_until = 0.0
        self._probing = False
        self._consecutive = 0
        self._buckets: deque[list[int]] = deque()  # [second, requests, failures]
        self.cooling_until = 0.0

    def state(self, now: float) -> BreakerState:
        if self._state is BreakerState.OPEN and now >= self._opened_until:
            self._state, self._probing = BreakerState.HALF_OPEN, False
        return self._state

    def usable(self, now: float) -> bool:
        """May a request go to this channel now? Asks, changes nothing visible."""
        if now < self.cooling_until:
            return False
        state = self.state(now)
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._probing
        )

    def begin(self, now: float) -> bool:
        """A request goes to this channel; True when it is the half-open probe."""
        if self.state(now) is BreakerState.HALF_OPEN:
            self._probing = True
            return True
        return False

    def abandon(self) -> None:
        """The request ended without a verdict: let the next one probe."""
        self._probing = False

    def succeeded(self, now: float) -> None:
        self._count(now, failed=False)
        self._consecutive = 0
        if self._state is not BreakerState.CLOSED:
            self._close()

    def failed(self, now: float) -> None:
        self._count(now, failed=True)
        self._consecutive += 1
        state = self.state(now)
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED and self._should_open()
        ):
            self._open(now)

    def cool_down(self, until: float) -> None:
        self.cooling_until = max(self.cooling_until, until)

    def available_at(self, now: float) -> float:
        """When this channel may next take a request (now, if it may already)."""
        later = self.cooling_until
        if self.state(now) is BreakerState.OPEN:
            later = max(later, self._opened_until)
        return max(now, later)

    def _should_open(self) -> bool:
        if self._consecutive >= self.policy.consecutive_failures:
            return True
        requests = sum(bucket[1] for bucket in self._buckets)
        failures = sum(bucket[2] for bucket in self._buckets)
        return requests >= self.policy.min_requests and (
            failures >= self.policy.error_ratio * requests
        )

    def _open(self, now: float) -> None:
        self._state, self._probing = BreakerState.OPEN, False
        self._opened_until = now + self.policy.open_seconds

    def _close(self) -> None:
        self._state, self._probing = BreakerState.CLOSED, False
        self._buckets.clear()

    def _count(self, now: float, *, failed: bool) -> None:
        second = int(now)
        buckets = self._buckets
        while buckets and buckets[0][0] <= second - self.policy.window_seconds:
            buckets.popleft()
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
        buckets[-1][1] += 1
        buckets[-1][2] += int(failed)
