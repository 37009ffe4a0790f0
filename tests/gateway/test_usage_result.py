"""Which counts a request is billed, and when it is marked partial (`Meter.finish`)."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry

from services.gateway.metering.provider_usage import TokenUsage
from services.gateway.metering.usage_result import Meter, Outcome, UsageSource
from services.gateway.relay.metrics import RelayMetrics

FINAL = TokenUsage(input_tokens=50, output_tokens=200)
ESTIMATED = TokenUsage(input_tokens=60, output_tokens=90)
ON_THE_WAY = TokenUsage(input_tokens=48, cache_read_tokens=7)


def _meter(
    status: Outcome,
    *,
    final: TokenUsage | None = None,
    reported: TokenUsage | None = None,
    estimated: TokenUsage | None = None,
) -> Meter:
    meter = Meter(request_id="r", endpoint="anthropic_messages", started=0.0)
    meter.status = status
    meter.upstream_usage, meter.partial_usage, meter.estimated_usage = final, reported, estimated
    return meter


@pytest.mark.parametrize("status", list(Outcome))
def test_the_providers_final_usage_is_billed_whatever_happened_after(status: Outcome) -> None:
    result = _meter(status, final=FINAL, reported=ON_THE_WAY, estimated=ESTIMATED).finish(1.0)

    assert (result.tokens, result.usage_source, result.partial) == (
        FINAL,
        UsageSource.UPSTREAM,
        False,
    )


@pytest.mark.parametrize("status", [Outcome.CLIENT_DISCONNECTED, Outcome.UPSTREAM_ERROR])
def test_a_call_cut_short_is_input_on_the_way_plus_delivered_output(status: Outcome) -> None:
    result = _meter(status, reported=ON_THE_WAY, estimated=ESTIMATED).finish(1.0)

    assert result.tokens == TokenUsage(input_tokens=48, cache_read_tokens=7, output_tokens=90)
    assert result.usage_source is UsageSource.ESTIMATED and result.partial is True
    assert result.as_dict()["partial"] is True


def test_a_hang_up_before_the_first_byte_bills_the_estimated_input() -> None:
    input_only = TokenUsage(input_tokens=60)

    result = _meter(Outcome.CLIENT_DISCONNECTED, estimated=input_only).finish(1.0)

    assert (result.tokens, result.usage_source, result.partial) == (
        input_only,
        UsageSource.ESTIMATED,
        True,
    )


def test_a_stream_that_ended_without_its_usage_event_is_partial() -> None:
    result = _meter(Outcome.OK, reported=ON_THE_WAY, estimated=ESTIMATED).finish(1.0)

    assert result.partial is True and result.tokens.input_tokens == 48


def test_an_answer_that_ended_in_order_without_usage_is_estimated_not_partial() -> None:
    result = _meter(Outcome.OK, estimated=ESTIMATED).finish(1.0)

    assert (result.tokens, result.usage_source, result.partial) == (
        ESTIMATED,
        UsageSource.ESTIMATED,
        False,
    )


@pytest.mark.parametrize("status", [Outcome.REJECTED, Outcome.UPSTREAM_ERROR])
def test_nothing_is_billed_before_an_upstream_had_the_request(status: Outcome) -> None:
    result = _meter(status).finish(1.0)

    assert result.tokens == TokenUsage() and result.partial is False


def test_partial_calls_are_counted_by_endpoint_and_outcome() -> None:
    registry = CollectorRegistry()
    metrics = RelayMetrics(registry)
    cut = _meter(Outcome.CLIENT_DISCONNECTED, estimated=ESTIMATED)
    cut.channel_id, cut.requested_model = uuid.uuid4(), "claude-haiku-4-5"

    metrics.observe(cut.finish(1.0))
    metrics.observe(_meter(Outcome.OK, final=FINAL).finish(1.0))

    labels = {"endpoint": "anthropic_messages", "status": "client_disconnected"}
    assert registry.get_sample_value("tollgate_relay_partial_calls_total", labels) == 1
    labels_ok = {"endpoint": "anthropic_messages", "status": "ok"}
    assert registry.get_sample_value("tollgate_relay_partial_calls_total", labels_ok) is None
