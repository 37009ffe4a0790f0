"""Per-channel metrics: attempts, errors by kind, time to first byte, breaker state.

Labels are bounded by the channel table: `channel_id` (a UUID) for counters
and histograms, plus the channel's `name` on the state gauges, which are read
from the health registry when Prometheus scrapes (the breaker's clock moves
between requests: an open breaker turns half-open by itself).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.gateway.channels.choice import Channel, RoutingTable
from services.gateway.channels.health import ChannelHealth
from services.gateway.relay.attempt import FailureKind
from shared.loop_metrics import LoopCounter, LoopHistogram

# One text per channel, not a UUID formatted on every attempt.
_id_text = functools.lru_cache(maxsize=4096)(uuid.UUID.__str__)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ChannelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = LoopCounter(
            "tollgate_channel_requests",
            "Attempts sent to each channel (a failed-over request counts once per channel).",
            ["channel_id"],
            registry=registry,
        )
        self.errors = LoopCounter(
            "tollgate_channel_errors",
            "Failed attempts by channel and kind.",
            ["channel_id", "kind"],
            registry=registry,
        )
        self.first_byte = LoopHistogram(
            "tollgate_channel_first_byte_seconds",
            "Time from sending an attempt to the first byte of its answer (successful ones).",
            ["channel_id"],
            buckets=_BUCKETS,
            registry=registry,
        )

    def attempted(self, channel: Channel, failure: FailureKind | None, seconds: float) -> None:
        channel_id = _id_text(channel.id)
        self.requests.labels(channel_id).inc()
        if failure is None:
            self.first_byte.labels(channel_id).observe(seconds)
        else:
            self.errors.labels(channel_id, failure.value).inc()


class HealthCollector(Collector):
    """`tollgate_channel_breaker_state` and `tollgate_channel_enabled`, at scrape time."""

    def __init__(self, source: Callable[[], tuple[RoutingTable, ChannelHealth]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        table, health = self._source()
        now = time.monotonic()
        states = GaugeMetricFamily(
            "tollgate_channel_breaker_state",
            "Circuit breaker per channel: 0 closed, 1 half-open, 2 open.",
            labels=["channel_id", "name"],
        )
        enabled = GaugeMetricFamily(
            "tollgate_channel_enabled",
            "1 when the channel takes traffic, 0 when disabled (by an operator or its upstream).",
            labels=["channel_id", "name"],
        )
        for channel in table.channels:
            labels = [str(channel.id), channel.name]
            states.add_metric(labels, int(health.breaker(channel.id).state(now)))
            # Shut off in this process (its upstream refused the key) counts as
            # disabled before the table reloads, or if the database write failed.
            taking = channel.enabled and not health.is_shut_off(channel.id)
            enabled.add_metric(labels, int(taking))
        yield states
        yield enabled
