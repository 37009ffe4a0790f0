"""The loop metrics write what prometheus-client's own would, for the same updates."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from shared.loop_metrics import LoopCounter, LoopHistogram

BUCKETS = (0.005, 0.01, 0.25, 1, 10, 300)
OBSERVED = (0.0, 0.005, 0.0051, 0.2, 1.0, 7.5, 300.0, 301.0, 1e9)


def _lines(registry: CollectorRegistry) -> list[str]:
    """The exposition, without prometheus-client's `_created` samples (not kept here)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_a_counter_reads_as_prometheus_clients_does() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Counter("relay_requests", "Requests.", ["model", "status"], registry=theirs)
    counter = LoopCounter("relay_requests", "Requests.", ["model", "status"], registry=ours)
    for metric in (reference, counter):
        metric.labels("gpt-4o", "ok").inc()
        metric.labels("gpt-4o", "ok").inc(2.5)
        metric.labels("claude", "rejected").inc()
    assert _lines(ours) == _lines(theirs)
    assert ours.get_sample_value("relay_requests_total", {"model": "gpt-4o", "status": "ok"}) == 3.5


def test_a_histogram_reads_as_prometheus_clients_does() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram(
        "latency_seconds", "Latency.", ["route"], buckets=BUCKETS, registry=theirs
    )
    histogram = LoopHistogram(
        "latency_seconds", "Latency.", ["route"], buckets=BUCKETS, registry=ours
    )
    for metric in (reference, histogram):
        for value in OBSERVED:
            metric.labels("/v1/chat/completions").observe(value)
        metric.labels("/v1/messages").observe(0.01)
    assert _lines(ours) == _lines(theirs)
    bucket = {"route": "/v1/chat/completions", "le": "0.005"}
    assert ours.get_sample_value("latency_seconds_bucket", bucket) == 2  # 0.0 and 0.005 itself


def test_wrong_labels_and_negative_increments_are_refused() -> None:
    registry = CollectorRegistry()
    counter = LoopCounter("c", "C.", ["a", "b"], registry=registry)
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("only-one")
    with pytest.raises(ValueError, match="only goes up"):
        counter.labels("x", "y").inc(-1)
    with pytest.raises(ValueError, match="finite bucket"):
        LoopHistogram("h", "H.", [], buckets=[float("inf")], registry=registry)
