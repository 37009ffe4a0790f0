"""The SSE parser against recorded provider streams and the corners of the spec.

Recorded streams come from the shared wire fixtures; each is parsed whole, one
byte at a time and cut at random points, and must give the same events and
give back its bytes exactly. No event loop: the parser does no IO.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.gateway.relay.sse import SseError, SseEvent, SseParser

WIRE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "wire"
INDEX: list[dict[str, Any]] = orjson.loads((WIRE / "index.json").read_bytes())
# By content type, not by file name: the Gemini 404 answers a streaming request
# as text/event-stream with a plain JSON body, and the relay parses it as SSE.
STREAMED = [entry for entry in INDEX if entry["content_type"].startswith("text/event-stream")]


def parse(chunks: Iterable[bytes], **parser_options: int) -> list[SseEvent]:
    parser = SseParser(**parser_options)
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


def one_byte_at_a_time(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def cut_at_random(body: bytes, seed: int, cuts: int = 200) -> list[bytes]:
    points = sorted(random.Random(seed).sample(range(1, len(body)), min(cuts, len(body) - 1)))
    return [body[start:end] for start, end in zip([0, *points], [*points, len(body)], strict=True)]


# ---- recorded streams ----------------------------------------------------------


@pytest.mark.parametrize("entry", STREAMED, ids=lambda entry: entry["file"])
def test_recorded_stream_parses_the_same_however_it_is_cut(entry: dict[str, Any]) -> None:
    body = (WIRE / entry["file"]).read_bytes()
    whole = parse([body])

    assert b"".join(event.raw for event in whole) == body
    assert parse(one_byte_at_a_time(body)) == whole
    for seed in range(5):
        assert parse(cut_at_random(body, seed)) == whole


@pytest.mark.parametrize(
    "entry", [e for e in STREAMED if e["file"].endswith(".sse")], ids=lambda e: e["file"]
)
def test_recorded_stream_data_is_json_or_done(entry: dict[str, Any]) -> None:
    body = (WIRE / entry["file"]).read_bytes()
    events = parse([body])

    assert events and all(event.has_data for event in events)
    for event in events:
        # Would fail if a CR of a CRLF stream leaked into the data.
        assert event.data == b"[DONE]" or isinstance(orjson.loads(event.data), dict)
        assert event.raw.endswith((b"\n\n", b"\r\n\r\n"))


def test_json_error_body_on_an_event_stream_is_one_dataless_event() -> None:
    body = (WIRE / "gemini" / "stream_error_404_json_body.json").read_bytes()

    events = parse([body])

    # No blank line, so nothing completes until EOF; no line is a data field.
    assert events == [SseEvent(event=None, data=b"", raw=body, has_data=False)]


def test_anthropic_stream_names_its_events() -> None:
    body = (WIRE / "anthropic_messages" / "stream_text.sse").read_bytes()

    names = [event.event for event in parse([body])]

    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert "message_delta" in names


# ---- random streams against the spec --------------------------------------------

PIECES = [
    b"\r",
    b"\n",
    b"\r\n",
    b"data: x",
    b"data:y",
    b"data",
    b": c",
    b"event: e",
    b"id: 1",
    "é".encode(),
]


def spec_messages(body: bytes) -> list[tuple[str | None, bytes]]:
    """The WHATWG algorithm line by line, plus this parser's rule for the tail at EOF."""
    *lines, tail = re.split(rb"\r\n|\r|\n", body.removeprefix(b"\xef\xbb\xbf"))
    messages: list[tuple[str | None, bytes]] = []
    event: str | None = None
    data: list[bytes] = []
    for line in [*lines, tail, b""]:
        if not line:
            if data:
                messages.append((event, b"\n".join(data)))
            event, data = None, []
        elif not line.startswith(b":"):
            name, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode() or None
    return messages


@pytest.mark.parametrize("seed", range(300))
def test_random_stream_matches_the_spec_however_it_is_cut(seed: int) -> None:
    rng = random.Random(seed)
    body = b"\xef\xbb\xbf" * (seed % 7 == 0) + b"".join(rng.choices(PIECES, k=30))

    whole = parse([body])

    assert b"".join(event.raw for event in whole) == body
    assert [(e.event, e.data) for e in whole if e.has_data] == spec_messages(body)
    assert parse(one_byte_at_a_time(body)) == whole
    assert parse(cut_at_random(body, seed, cuts=10)) == whole


# ---- line ends -----------------------------------------------------------------


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_each_line_end_gives_the_same_events(line_end: bytes) -> None:
    first = b"event: ping" + line_end + b"data: 1" + line_end + line_end
    second = b"data: 2" + line_end + line_end
    body = first + second

    for chunks in ([body], one_byte_at_a_time(body)):
        assert parse(chunks) == [
            SseEvent(event="ping", data=b"1", raw=first),
            SseEvent(event=None, data=b"2", raw=second),
        ]


def test_mixed_line_ends_in_one_stream() -> None:
    body = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"

    events = parse([body])

    assert [event.data for event in events] == [b"a\nb\nc", b"d"]
    assert [event.raw for event in events] == [b"data: a\r\ndata: b\rdata: c\n\r\n", b"data: d\r\r"]


def test_split_between_cr_and_lf_is_one_line_end() -> None:
    parser = SseParser()

    # Until the next byte arrives, "\r" may be a whole line end or half a CRLF.
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\ndata: b\r\n\r\n") == [
        SseEvent(event=None, data=b"a", raw=b"data: a\r\n\r\n"),
        SseEvent(event=None, data=b"b", raw=b"data: b\r\n\r\n"),
    ]
    assert parser.close() == []


def test_cr_lf_inside_a_line_is_not_a_blank_line() -> None:
    assert parse([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [
        SseEvent(event=None, data=b"a\nb", raw=b"data: a\r\ndata: b\r\n\r\n")
    ]


def test_cr_at_end_of_stream_ends_the_block() -> None:
    parser = SseParser()

    assert parser.feed(b"data: a\r\r") == []
    assert parser.close() == [SseEvent(event=None, data=b"a", raw=b"data: a\r\r")]


# ---- fields --------------------------------------------------------------------


def test_multi_line_data_is_joined_with_lf() -> None:
    assert parse([b'data: {"a":\ndata:  1}\ndata\n\n']) == [
        SseEvent(event=None, data=b'{"a":\n 1}\n', raw=b'data: {"a":\ndata:  1}\ndata\n\n')
    ]


def test_only_one_space_after_the_colon_is_dropped() -> None:
    assert [event.data for event in parse([b"data:x\n\ndata:  x\n\n"])] == [b"x", b" x"]


def test_comments_and_unknown_fields_are_kept_in_raw_only() -> None:
    body = b": keep-alive\n\n: note\nretry: 10\nfoo: bar\ndata: x\n\n"

    events = parse([body])

    assert events == [
        SseEvent(event=None, data=b"", raw=b": keep-alive\n\n", has_data=False),
        SseEvent(event=None, data=b"x", raw=b": note\nretry: 10\nfoo: bar\ndata: x\n\n"),
    ]


def test_stray_blank_lines_are_events_of_their_own() -> None:
    body = b"\n\r\ndata: x\n\n\n"

    events = parse([body])

    assert [event.raw for event in events] == [b"\n", b"\r\n", b"data: x\n\n", b"\n"]
    assert [event.has_data for event in events] == [False, False, True, False]


def test_empty_data_field_still_makes_a_message() -> None:
    assert parse([b"data:\n\n"]) == [SseEvent(event=None, data=b"", raw=b"data:\n\n")]


def test_event_and_id_fields() -> None:
    body = b"id: 7\nevent: response.completed\ndata: {}\n\n"

    assert parse(one_byte_at_a_time(body)) == [
        SseEvent(event="response.completed", data=b"{}", raw=body, id="7")
    ]


def test_event_name_split_inside_a_utf8_character() -> None:
    body = "event: é\ndata: ü\n\n".encode()

    (event,) = parse(one_byte_at_a_time(body))

    assert event.event == "é" and event.data == "ü".encode()


def test_empty_event_name_means_the_default_type() -> None:
    (event,) = parse([b"event:\ndata: x\n\n"])

    assert event.event is None


def test_byte_order_mark_at_stream_start_is_ignored_but_kept() -> None:
    body = b"\xef\xbb\xbfevent: a\ndata: x\n\n"

    assert parse(one_byte_at_a_time(body)) == [SseEvent(event="a", data=b"x", raw=body)]


# ---- end of stream -------------------------------------------------------------


def test_close_parses_an_unterminated_last_block() -> None:
    parser = SseParser()

    assert parser.feed(b"data: 1\n\ndata: [DONE]\n") == [
        SseEvent(event=None, data=b"1", raw=b"data: 1\n\n")
    ]
    assert parser.close() == [SseEvent(event=None, data=b"[DONE]", raw=b"data: [DONE]\n")]
    assert parser.close() == []


def test_feed_after_close_is_a_programming_error() -> None:
    parser = SseParser()
    parser.close()

    with pytest.raises(RuntimeError):
        parser.feed(b"data: x\n\n")


# ---- size limit ----------------------------------------------------------------


def test_oversized_event_arriving_piecemeal_raises() -> None:
    parser = SseParser(max_event_size=64)
    parser.feed(b"data: " + b"x" * 50)

    with pytest.raises(SseError) as raised:
        parser.feed(b"x" * 50)

    assert raised.value.error_status_hint == 502
    assert isinstance(raised.value, ValueError)


def test_oversized_event_arriving_whole_raises() -> None:
    with pytest.raises(SseError):
        SseParser(max_event_size=64).feed(b"data: " + b"x" * 100 + b"\n\n")


def test_events_up_to_the_limit_pass() -> None:
    event = b"data: " + b"x" * 56 + b"\n\n"

    assert len(event) == 64
    assert [e.raw for e in parse([event * 3], max_event_size=64)] == [event] * 3
    assert [e.raw for e in parse(one_byte_at_a_time(event * 3), max_event_size=64)] == [event] * 3
