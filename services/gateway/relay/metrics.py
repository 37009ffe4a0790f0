"""Relay metrics, fed by one `UsageResult` per request.

Names follow Prometheus conventions, and OpenTelemetry's GenAI semantic
conventions where one fits (`gen_ai_*`, with `gen_ai_request_model` and
`gen_ai_token_type` labels). Labels are bounded: endpoints and statuses are
fixed sets, models come from the channel table (an unknown model is refused
before it is counted under its own name).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from services.gateway.metering.usage_result import Outcome, UsageResult
from shared.loop_metrics import LoopCounter, LoopHistogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = LoopCounter(
            "tollgate_relay_requests",
            "Relayed requests by endpoint, model and outcome.",
            ["endpoint", "gen_ai_request_model", "status", "http_status"],
            registry=registry,
        )
        self.duration = LoopHistogram(
            "gen_ai_server_request_duration_seconds",
            "Time from request to the last byte relayed.",
            ["endpoint", "gen_ai_request_model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.first_token = LoopHistogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from request to the first upstream byte relayed.",
            ["endpoint", "gen_ai_request_model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = LoopCounter(
            "tollgate_relay_tokens",
            "Tokens relayed, by model and kind.",
            ["gen_ai_request_model", "gen_ai_token_type", "usage_source"],
            registry=registry,
        )
        self.partial = LoopCounter(
            "tollgate_relay_partial_calls",
            "Calls cut short and billed input plus delivered output, by endpoint and outcome.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.holds_open = Gauge(
            "tollgate_holds_open",
            "Holds this process placed for requests still in flight.",
            registry=registry,
        )
        self.optimistic_refused = LoopCounter(
            "tollgate_optimistic_hold_refused",
            "Requests whose hold, sent with their upstream request, was refused:"
            " the upstream request cancelled, nothing relayed or charged.",
            ["endpoint"],
            registry=registry,
        )
        self.spool_depth = Gauge(
            "tollgate_spool_depth",
            "Usage events in this process's spool, waiting for Redis.",
            registry=registry,
        )

    def observe(self, result: UsageResult) -> None:
        model = result.requested_model if result.channel_id is not None else "unrouted"
        model = model or "unknown"
        self.requests.labels(
            result.endpoint, model, result.status.value, str(result.http_status)
        ).inc()
        if result.status is Outcome.REJECTED:
            return
        self.duration.labels(result.endpoint, model).observe(result.latency_ms / 1000)
        if result.ttfb_ms is not None:
            self.first_token.labels(result.endpoint, model).observe(result.ttfb_ms / 1000)
        if result.partial:
            self.partial.labels(result.endpoint, result.status.value).inc()
        source = result.usage_source.value
        for kind, count in (
            ("input", result.tokens.input_tokens),
            ("output", result.tokens.output_tokens),
            ("cache_read", result.tokens.cache_read_tokens),
            ("cache_write", result.tokens.cache_write_tokens),
            ("reasoning", result.tokens.reasoning_tokens),
        ):
            if count:
                self.tokens.labels(model, kind, source).inc(count)
