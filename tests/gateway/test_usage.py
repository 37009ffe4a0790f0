"""Usage extraction against recorded provider answers, and its edge cases.

`index.json` states the expected usage in each provider's own terms (its field
names, null for a field the answer left out); `normalised()` below turns that
into `TokenUsage` by the table in DESIGN.md §4, written out independently of
the code under test. An expectation whose fields are all null means the
answer carries no usage, which the extractors report as None.

A streaming request can be answered by a plain JSON error body under
`text/event-stream` (the Gemini 404): it is fed to the stream tracker like any
stream, yields no data events and so no usage, and the same body decoded as
JSON has no `usageMetadata` either.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.gateway.metering.provider_usage import (
    TokenUsage,
    UsageError,
    from_anthropic,
    from_gemini,
    from_openai_chat,
    from_openai_embeddings,
    from_openai_responses,
)
from services.gateway.metering.stream_usage import (
    STREAMING_APIS,
    AnthropicUsageTracker,
    GeminiUsageTracker,
    OpenAIChatUsageTracker,
    OpenAIResponsesUsageTracker,
    is_usage_only_chunk,
    tracker_for,
)
from services.gateway.relay.sse import SseEvent, SseParser

WIRE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "wire"
INDEX: list[dict[str, Any]] = orjson.loads((WIRE / "index.json").read_bytes())

# index.json names an API by provider and endpoint; the gateway by one name.
API_NAME = {
    ("openai", "chat"): "openai_chat",
    ("openai", "responses"): "openai_responses",
    ("openai", "embeddings"): "openai_embeddings",
    ("anthropic", "messages"): "anthropic_messages",
    ("gemini", "generateContent"): "gemini",
    ("gemini", "streamGenerateContent"): "gemini",
}
FROM_BODY: dict[str, Callable[[object], TokenUsage | None]] = {
    "openai_chat": from_openai_chat,
    "openai_responses": from_openai_responses,
    "openai_embeddings": from_openai_embeddings,
    "anthropic_messages": from_anthropic,
    "gemini": from_gemini,
}


def api_of(entry: dict[str, Any]) -> str:
    return API_NAME[entry["provider"], entry["api"]]


# DESIGN.md §4's table, one row per API: the provider fields index.json states,
# and how they make the normalised counts (n holds them with null read as 0).
Counts = dict[str, int]
DESIGN_TABLE: dict[str, tuple[set[str], Callable[[Counts], TokenUsage]]] = {
    "openai_chat": (
        {"prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens"},
        lambda n: TokenUsage(
            input_tokens=n["prompt_tokens"] - n["cached_tokens"],
            cache_read_tokens=n["cached_tokens"],
            output_tokens=n["completion_tokens"],
            reasoning_tokens=n["reasoning_tokens"],
        ),
    ),
    "openai_responses": (
        {"input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"},
        lambda n: TokenUsage(
            input_tokens=n["input_tokens"] - n["cached_tokens"],
            cache_read_tokens=n["cached_tokens"],
            output_tokens=n["output_tokens"],
            reasoning_tokens=n["reasoning_tokens"],
        ),
    ),
    "anthropic_messages": (
        {"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"},
        lambda n: TokenUsage(
            input_tokens=n["input_tokens"],
            cache_read_tokens=n["cache_read_input_tokens"],
            cache_write_tokens=n["cache_creation_input_tokens"],
            output_tokens=n["output_tokens"],
        ),
    ),
    "gemini": (
        {
            "promptTokenCount",
            "candidatesTokenCount",
            "cachedContentTokenCount",
            "thoughtsTokenCount",
        },
        lambda n: TokenUsage(
            input_tokens=n["promptTokenCount"] - n["cachedContentTokenCount"],
            cache_read_tokens=n["cachedContentTokenCount"],
            output_tokens=n["candidatesTokenCount"] + n["thoughtsTokenCount"],
            reasoning_tokens=n["thoughtsTokenCount"],
        ),
    ),
    # total_tokens is not a count of its own: it is checked against the total.
    "openai_embeddings": (
        {"prompt_tokens", "total_tokens"},
        lambda n: TokenUsage(input_tokens=n["prompt_tokens"]),
    ),
}


def normalised(api: str, expected: dict[str, int | None]) -> TokenUsage | None:
    """An expectation in provider terms, normalised by DESIGN_TABLE."""
    if all(count is None for count in expected.values()):
        return None
    fields, normalise = DESIGN_TABLE[api]
    # A field this table does not know would otherwise be silently ignored.
    assert set(expected) == fields
    usage = normalise({field: count or 0 for field, count in expected.items()})
    if "total_tokens" in expected:
        assert usage.total == expected["total_tokens"]
    return usage


def token_counts(usage: TokenUsage | None) -> TokenUsage | None:
    """Usage without the web search count, which index.json does not state."""
    return None if usage is None else dataclasses.replace(usage, web_search_requests=0)


def events_of(body: bytes, cuts: list[int] | None = None) -> list[SseEvent]:
    points = [0, *(cuts or []), len(body)]
    parser = SseParser()
    events = [
        event
        for start, end in zip(points, points[1:], strict=False)
        for event in parser.feed(body[start:end])
    ]
    return events + parser.close()


def tracked(api: str, events: list[SseEvent]) -> TokenUsage | None:
    tracker = tracker_for(api)
    for event in events:
        tracker.feed(event)
    return tracker.usage


def fixture_events(file: str) -> list[SseEvent]:
    return events_of((WIRE / file).read_bytes())


def sse_event(data: object, event: str | None = None) -> SseEvent:
    payload = orjson.dumps(data)
    return SseEvent(event=event, data=payload, raw=b"data: " + payload + b"\n\n")


# ---- recorded answers ----------------------------------------------------------


@pytest.mark.parametrize("entry", INDEX, ids=lambda entry: entry["file"])
def test_recorded_answer_gives_the_expected_usage(entry: dict[str, Any]) -> None:
    api = api_of(entry)
    assert entry["file"].split("/")[0] == api
    body = (WIRE / entry["file"]).read_bytes()
    expected = normalised(api, entry["expected_usage"])

    if not entry["stream"]:
        assert token_counts(FROM_BODY[api](orjson.loads(body))) == expected
        return
    whole = tracked(api, events_of(body))
    assert token_counts(whole) == expected
    assert tracked(api, events_of(body, list(range(1, len(body))))) == whole
    for seed in range(5):
        cuts = sorted(random.Random(seed).sample(range(1, len(body)), min(200, len(body) - 1)))
        assert tracked(api, events_of(body, cuts)) == whole


def test_json_error_body_answering_a_stream_has_no_usage() -> None:
    body = (WIRE / "gemini" / "stream_error_404_json_body.json").read_bytes()

    assert tracked("gemini", events_of(body)) is None
    assert from_gemini(orjson.loads(body)) is None


def test_every_streamed_api_in_the_fixtures_has_a_tracker() -> None:
    assert {api_of(entry) for entry in INDEX if entry["stream"]} == STREAMING_APIS


# ---- streams cut short ---------------------------------------------------------

# The event that ends each format's answer, and so makes its usage final.
ENDING = {
    "openai_chat": b'"usage":{',
    "openai_responses": b'"type":"response.completed"',
    "anthropic_messages": b'"type":"message_delta"',
    "gemini": b'"finishReason"',
}


@pytest.mark.parametrize(
    "entry", [e for e in INDEX if e["stream"]], ids=lambda entry: entry["file"]
)
def test_a_stream_cut_before_its_ending_event_has_no_final_usage(entry: dict[str, Any]) -> None:
    api = api_of(entry)
    events = fixture_events(entry["file"])
    ending = next(
        (i for i, e in enumerate(events) if ENDING[api] in e.data.replace(b" ", b"")), None
    )
    if ending is None:  # an error body answering a stream: never any usage
        assert tracked(api, events) is None
        return

    for cut in range(ending):
        tracker = tracker_for(api)
        for event in events[:cut]:
            tracker.feed(event)
        assert tracker.usage is None, (cut, tracker.usage)
    assert tracked(api, events[: ending + 1]) is not None


def test_anthropic_cut_short_keeps_message_starts_input_not_its_placeholder_output() -> None:
    events = fixture_events("anthropic_messages/stream_parallel_tool_use.sse")
    tracker = AnthropicUsageTracker()
    for event in events:
        if event.event == "message_delta":
            break
        tracker.feed(event)

    # message_start says output_tokens 62 here: a figure, not what was streamed.
    assert tracker.usage is None
    assert tracker.partial_usage == TokenUsage(input_tokens=542)


def test_gemini_cut_short_keeps_the_counts_so_far() -> None:
    events = fixture_events("gemini/stream_sse_thinking_no_candidates_count.sse")
    tracker = GeminiUsageTracker()
    for event in events[:2]:
        tracker.feed(event)

    assert tracker.usage is None
    assert tracker.partial_usage == TokenUsage(
        input_tokens=30, output_tokens=755, reasoning_tokens=755
    )


def test_gemini_finish_reason_quoted_in_text_does_not_end_the_answer() -> None:
    text = {"text": 'the key "finishReason": "STOP" appears here'}
    chunk = {
        "candidates": [{"content": {"parts": [text]}}],
        "usageMetadata": {"promptTokenCount": 4},
    }
    tracker = GeminiUsageTracker()

    tracker.feed(sse_event(chunk))

    assert tracker.usage is None and tracker.partial_usage == TokenUsage(input_tokens=4)


def test_openai_trackers_report_nothing_on_the_way() -> None:
    created = {"type": "response.created", "response": {"usage": None}}
    responses = OpenAIResponsesUsageTracker()
    responses.feed(sse_event(created, "response.created"))
    chat = OpenAIChatUsageTracker()
    chat.feed(sse_event({"choices": [{"delta": {"content": "hi"}}], "usage": None}))

    assert responses.usage is None and responses.partial_usage is None
    assert chat.usage is None and chat.partial_usage is None


# ---- Anthropic -----------------------------------------------------------------


def test_anthropic_web_search_counts_come_from_the_last_message_delta() -> None:
    events = fixture_events("anthropic_messages/stream_web_search_cumulative_usage.sse")
    tracker = AnthropicUsageTracker()

    tracker.feed(events[0])
    assert tracker.usage is None  # message_start's counts are not the bill
    assert tracker.partial_usage == TokenUsage(input_tokens=3, cache_write_tokens=2399)
    for event in events[1:]:
        tracker.feed(event)

    assert tracker.usage == TokenUsage(
        input_tokens=17,
        output_tokens=515,
        cache_read_tokens=16242,
        cache_write_tokens=23258,
        web_search_requests=2,  # "server_tool_use.web_search_requests = 2" in index.json
    )


def test_anthropic_delta_keeps_fields_it_leaves_out_or_nulls() -> None:
    tracker = AnthropicUsageTracker()
    start_usage = {"input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 1}
    start = {"type": "message_start", "message": {"usage": start_usage}}

    tracker.feed(sse_event(start, "message_start"))
    tracker.feed(sse_event({"type": "message_delta", "usage": {"output_tokens": 9}}))
    tracker.feed(
        sse_event({"type": "message_delta", "usage": {"input_tokens": None}}, "message_delta")
    )

    assert tracker.usage == TokenUsage(input_tokens=5, cache_read_tokens=7, output_tokens=9)


def test_anthropic_ignores_other_events_and_bad_deltas() -> None:
    tracker = AnthropicUsageTracker()
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 5}}}
    tracker.feed(sse_event(start, "message_start"))

    tracker.feed(sse_event({"type": "ping", "usage": {"input_tokens": 1}}, "ping"))
    tracker.feed(sse_event({"type": "message_delta", "usage": {"output_tokens": "9"}}))
    tracker.feed(SseEvent(event="message_delta", data=b'{"type":"message_delta",', raw=b""))

    assert tracker.usage is None  # no readable message_delta: the answer never ended
    assert tracker.partial_usage == TokenUsage(input_tokens=5)


def test_anthropic_non_streaming_server_tool_use() -> None:
    body = {"usage": {"input_tokens": 3, "server_tool_use": {"web_search_requests": 4}}}

    assert from_anthropic(body) == TokenUsage(input_tokens=3, web_search_requests=4)


# ---- OpenAI chat ---------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [e for e in INDEX if e["stream"] and api_of(e) == "openai_chat"],
    ids=lambda entry: entry["file"],
)
def test_usage_only_chunk_is_the_last_before_done(entry: dict[str, Any]) -> None:
    events = fixture_events(entry["file"])
    asked = entry["request_body"].get("stream_options", {}).get("include_usage", False)

    flags = [is_usage_only_chunk(event) for event in events]

    assert events[-1].data == b"[DONE]"
    assert flags == [False] * (len(events) - 2) + [asked, False]


def test_usage_only_chunk_needs_empty_choices_and_a_usage_object() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2}

    assert is_usage_only_chunk(sse_event({"choices": [], "usage": usage}))
    assert is_usage_only_chunk(sse_event({"usage": usage}))
    assert not is_usage_only_chunk(sse_event({"choices": [{"delta": {}}], "usage": usage}))
    assert not is_usage_only_chunk(sse_event({"choices": [], "usage": None}))
    assert not is_usage_only_chunk(SseEvent(event=None, data=b'{"usage":{', raw=b""))
    assert not is_usage_only_chunk(SseEvent(event=None, data=b"[DONE]", raw=b""))


def test_openai_chat_usage_test_allows_json_whitespace() -> None:
    chunk = orjson.dumps(
        {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
        option=orjson.OPT_INDENT_2,
    ).replace(b'"usage":', b'"usage" :')
    event = SseEvent(event=None, data=chunk, raw=b"data: " + chunk + b"\n\n")
    tracker = OpenAIChatUsageTracker()

    tracker.feed(event)

    assert tracker.usage == TokenUsage(input_tokens=4, output_tokens=2)
    assert is_usage_only_chunk(event)


def test_openai_chat_bad_chunks_are_skipped() -> None:
    tracker = OpenAIChatUsageTracker()
    tracker.feed(sse_event({"choices": [], "usage": {"prompt_tokens": 4}}))

    tracker.feed(SseEvent(event=None, data=b'{"usage":{"prompt_tokens":', raw=b""))
    tracker.feed(sse_event({"choices": [], "usage": {"prompt_tokens": -1}}))
    tracker.feed(sse_event({"choices": [], "usage": {"prompt_tokens_details": []}}))

    assert tracker.usage == TokenUsage(input_tokens=4)


# ---- what gets decoded ---------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "decoded"),
    [
        ("openai_chat/stream_include_usage_text.sse", 1),
        ("openai_chat/stream_tool_call.sse", 1),
        ("openai_responses/stream_function_call.sse", 1),
        ("openai_responses/stream_reasoning.sse", 1),
        ("anthropic_messages/stream_web_search_cumulative_usage.sse", 2),
        ("gemini/stream_sse_basic.sse", 2),  # both chunks carry usageMetadata
    ],
)
def test_trackers_decode_only_events_that_can_carry_usage(
    file: str, decoded: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = file.split("/")[0]
    events = fixture_events(file)
    calls: list[bytes] = []
    real_loads = orjson.loads

    def counting_loads(data: bytes) -> Any:
        calls.append(data)
        return real_loads(data)

    monkeypatch.setattr(orjson, "loads", counting_loads)

    assert tracked(api, events) is not None
    assert len(calls) == decoded


# ---- OpenAI Responses ----------------------------------------------------------


def test_responses_usage_from_incomplete_and_failed_events() -> None:
    usage = {"input_tokens": 10, "output_tokens": 3, "input_tokens_details": {"cached_tokens": 4}}
    incomplete = {"type": "response.incomplete", "response": {"usage": usage}}
    failed = {"type": "response.failed", "response": {"usage": None}}

    tracker = OpenAIResponsesUsageTracker()
    tracker.feed(sse_event(incomplete, "response.incomplete"))
    assert tracker.usage == TokenUsage(input_tokens=6, cache_read_tokens=4, output_tokens=3)

    tracker = OpenAIResponsesUsageTracker()
    tracker.feed(sse_event(failed, "response.failed"))
    assert tracker.usage is None


def test_responses_without_event_lines_falls_back_to_the_type() -> None:
    completed = {"type": "response.completed", "response": {"usage": {"input_tokens": 2}}}
    created = {"type": "response.created", "response": {"usage": {"input_tokens": 99}}}
    tracker = OpenAIResponsesUsageTracker()

    tracker.feed(sse_event(completed))
    tracker.feed(sse_event(created))

    assert tracker.usage == TokenUsage(input_tokens=2)


# ---- Gemini --------------------------------------------------------------------


def test_gemini_last_usage_metadata_wins_whole() -> None:
    tracker = GeminiUsageTracker()

    finished = {"candidates": [{"finishReason": "STOP"}]}
    tracker.feed(sse_event({"usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 5}}))
    tracker.feed(
        sse_event(finished | {"usageMetadata": {"promptTokenCount": 8, "thoughtsTokenCount": 2}})
    )
    tracker.feed(sse_event({"usageMetadata": {"promptTokenCount": 1.5}}))

    assert tracker.usage == TokenUsage(input_tokens=8, output_tokens=2, reasoning_tokens=2)


# ---- bodies and the value object -----------------------------------------------


@pytest.mark.parametrize("read", FROM_BODY.values())
def test_body_without_usage_has_none(read: Callable[[object], TokenUsage | None]) -> None:
    assert read({}) is None
    assert read({"usage": None, "usageMetadata": None}) is None
    assert read([1, 2]) is None


@pytest.mark.parametrize("count", ["3", 2.0, True, -1, [3]])
def test_unreadable_count_raises(count: object) -> None:
    with pytest.raises(UsageError) as raised:
        from_openai_chat({"usage": {"prompt_tokens": count}})

    assert raised.value.error_status_hint == 502


def test_unreadable_usage_object_raises() -> None:
    with pytest.raises(UsageError):
        from_openai_responses({"usage": [1]})


def test_missing_and_null_counts_are_zero() -> None:
    body = {"usage": {"prompt_tokens": 5, "completion_tokens": None, "prompt_tokens_details": None}}

    assert from_openai_chat(body) == TokenUsage(input_tokens=5)


def test_cached_count_never_exceeds_the_input_it_is_part_of() -> None:
    body = {"usageMetadata": {"promptTokenCount": 3, "cachedContentTokenCount": 5}}

    assert from_gemini(body) == TokenUsage(input_tokens=0, cache_read_tokens=3)


def test_total_counts_every_token_once() -> None:
    usage = TokenUsage(
        input_tokens=1,
        output_tokens=20,
        cache_read_tokens=300,
        cache_write_tokens=4000,
        reasoning_tokens=15,
        web_search_requests=2,
    )

    assert usage.total == 4321
    assert TokenUsage().total == 0


def test_tracker_for_each_streaming_api() -> None:
    assert isinstance(tracker_for("openai_chat"), OpenAIChatUsageTracker)
    assert isinstance(tracker_for("openai_responses"), OpenAIResponsesUsageTracker)
    assert isinstance(tracker_for("anthropic_messages"), AnthropicUsageTracker)
    assert isinstance(tracker_for("gemini"), GeminiUsageTracker)
    with pytest.raises(ValueError, match="openai_embeddings"):
        tracker_for("openai_embeddings")
