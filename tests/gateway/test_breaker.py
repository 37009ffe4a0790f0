"""The circuit breaker's state machine, driven with a hand-held clock."""

from __future__ import annotations

from services.gateway.channels.breaker import Breaker, BreakerPolicy, BreakerState

POLICY = BreakerPolicy(consecutive_failures=3, window_seconds=10, min_requests=6, error_ratio=0.5)


def test_consecutive_failures_open_it() -> None:
    breaker = Breaker(POLICY)
    for now in (0.0, 0.1):
        breaker.failed(now)
        assert breaker.state(now) is BreakerState.CLOSED and breaker.usable(now)
    breaker.failed(0.2)
    assert breaker.state(0.2) is BreakerState.OPEN and not breaker.usable(0.2)


def test_a_success_resets_the_run_of_failures() -> None:
    breaker = Breaker(POLICY)
    breaker.failed(0.0)
    breaker.failed(0.1)
    breaker.succeeded(0.2)
    breaker.failed(0.3)
    breaker.failed(0.4)
    assert breaker.state(0.4) is BreakerState.CLOSED


def test_an_error_ratio_over_the_window_opens_it() -> None:
    breaker = Breaker(POLICY)
    for index in range(5):  # S F S F S: two failures in five, never three in a row
        (breaker.failed if index % 2 else breaker.succeeded)(float(index))
    assert breaker.state(4.0) is BreakerState.CLOSED
    breaker.failed(5.0)  # 3 of 6 requests failed: the ratio reaches one half
    assert breaker.state(5.0) is BreakerState.OPEN


def test_failures_older_than_the_window_are_forgotten() -> None:
    breaker = Breaker(POLICY)
    for now in (0.0, 1.0):
        breaker.failed(now)
        breaker.succeeded(now + 0.5)
    for now in range(20, 24):  # the two old failures left the window
        breaker.succeeded(float(now))
    breaker.failed(24.0)
    assert breaker.state(24.0) is BreakerState.CLOSED


def test_half_open_lets_one_probe_through_and_a_success_closes_it() -> None:
    breaker = Breaker(BreakerPolicy(consecutive_failures=1, open_seconds=5))
    breaker.failed(0.0)
    assert not breaker.usable(4.9)
    assert breaker.state(5.0) is BreakerState.HALF_OPEN and breaker.usable(5.0)
    assert breaker.begin(5.0) is True
    assert not breaker.usable(5.1), "one probe at a time"
    breaker.succeeded(5.2)
    assert breaker.state(5.2) is BreakerState.CLOSED
    assert breaker.usable(5.2) and breaker.begin(5.2) is False


def test_a_failed_probe_opens_it_again_for_a_full_period() -> None:
    breaker = Breaker(BreakerPolicy(consecutive_failures=1, open_seconds=5))
    breaker.failed(0.0)
    breaker.begin(5.0)
    breaker.failed(5.5)
    assert breaker.state(10.4) is BreakerState.OPEN
    assert breaker.state(10.5) is BreakerState.HALF_OPEN


def test_an_abandoned_probe_frees_the_slot() -> None:
    breaker = Breaker(BreakerPolicy(consecutive_failures=1, open_seconds=5))
    breaker.failed(0.0)
    breaker.begin(5.0)
    breaker.abandon()
    assert breaker.usable(5.1)


def test_a_cool_down_blocks_without_counting_as_failure() -> None:
    breaker = Breaker(POLICY)
    breaker.cool_down(2.0)
    assert not breaker.usable(1.9) and breaker.usable(2.0)
    assert breaker.state(1.0) is BreakerState.CLOSED
    assert breaker.available_at(1.0) == 2.0
    breaker.cool_down(1.0)
    assert breaker.available_at(1.5) == 2.0, "a shorter cool-down never shortens a longer one"


def test_available_at_is_the_end_of_the_open_period() -> None:
    breaker = Breaker(BreakerPolicy(consecutive_failures=1, open_seconds=5))
    assert breaker.available_at(3.0) == 3.0
    breaker.failed(10.0)
    assert breaker.available_at(11.0) == 15.0
