"""SSE framing and the splitting of recorded streams for replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.mockprovider import sse
from services.mockprovider.settings import DEFAULT_FIXTURES

RECORDED = sorted(DEFAULT_FIXTURES.rglob("*.sse"))


def test_frames_per_provider() -> None:
    assert sse.data({"a": 1}, sse.Part.CONTENT).data == b'data: {"a":1}\n\n'
    assert sse.event("ping", {"type": "ping"}, sse.Part.PREAMBLE).data == (
        b'event: ping\ndata: {"type":"ping"}\n\n'
    )
    assert sse.crlf_data({}, sse.Part.CONTENT).data == b"data: {}\r\n\r\n"


def test_split_events_handles_lf_crlf_and_a_tail() -> None:
    assert sse.split_events(b"data: 1\n\ndata: 2\n\n") == [b"data: 1\n\n", b"data: 2\n\n"]
    assert sse.split_events(b"data: 1\r\n\r\ndata: 2") == [b"data: 1\r\n\r\n", b"data: 2"]
    assert sse.split_events(b"") == []


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.name)
def test_recorded_streams_split_into_events_and_join_back(path: Path) -> None:
    raw = path.read_bytes()
    events = sse.split_events(raw)
    assert b"".join(events) == raw
    assert len(events) > 1
