"""The stream forwarder's metering, without a loop: what it counts as delivered, and when.

A finished stream's usage comes from the provider, so its content is never
measured while it is under `UNMEASURED_LIMIT`; a stream cut short is measured
once, at the end, over exactly the events whose write went through.
"""

from __future__ import annotations

import pytest

from services.gateway.relay import delivered
from services.gateway.relay.apis import Api
from services.gateway.relay.sse import SseEvent
from services.gateway.relay.stream import UNMEASURED_LIMIT, _Forwarder
from services.gateway.relay.wire import Inspected
from tests.gateway.mock_streams import stream_events, text_completion

INSPECTED = Inspected(
    model="claude-haiku-4-5",
    stream=True,
    body=b"{}",
    hidden_usage=False,
    max_output_tokens=1000,
    prompt_bytes=2,
)


def _events(pieces: int) -> list[SseEvent]:
    completion = text_completion("claude-haiku-4-5", pieces, digest="1" * 64)
    return stream_events("anthropic_messages", completion)


def _text_bytes(events: list[SseEvent]) -> int:
    return sum(delivered.anthropic_messages(event) for event in events)


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> list[SseEvent]:
    """Every event the forwarder measures."""
    calls: list[SseEvent] = []

    def counting(event: SseEvent) -> int:
        calls.append(event)
        return delivered.anthropic_messages(event)

    monkeypatch.setattr(delivered, "counter_for", lambda api: counting)
    return calls


def test_a_finished_stream_under_the_limit_is_never_measured(measured: list[SseEvent]) -> None:
    forwarder = _Forwarder(Api.ANTHROPIC_MESSAGES, INSPECTED)
    for event in _events(200):
        forwarder.take([event])
        forwarder.written()

    assert forwarder.tracker.usage is not None
    assert measured == []


def test_a_stream_cut_short_is_measured_once_over_what_was_written(
    measured: list[SseEvent],
) -> None:
    events = _events(200)
    forwarder = _Forwarder(Api.ANTHROPIC_MESSAGES, INSPECTED)
    for event in events[:120]:
        forwarder.take([event])
        forwarder.written()
    forwarder.take(events[120:125])  # taken, but the write failed: never delivered

    assert forwarder.tracker.usage is None
    assert forwarder.delivered_bytes() == _text_bytes(events[:120]) > 0
    assert len(measured) == 120
    assert forwarder.delivered_bytes() == _text_bytes(events[:120])  # nothing twice
    assert len(measured) == 120


def test_a_long_stream_is_measured_in_batches_and_keeps_at_most_the_limit(
    measured: list[SseEvent],
) -> None:
    events = _events(5000)
    assert sum(len(event.data) for event in events) > 3 * UNMEASURED_LIMIT
    forwarder = _Forwarder(Api.ANTHROPIC_MESSAGES, INSPECTED)
    for event in events[:-3]:  # cut before message_delta
        forwarder.take([event])
        forwarder.written()
        kept = sum(len(e.raw) + len(e.data) for e in forwarder._unmeasured)
        assert kept <= UNMEASURED_LIMIT

    assert 0 < len(measured) < len(events)
    assert forwarder.delivered_bytes() == _text_bytes(events[:-3])
