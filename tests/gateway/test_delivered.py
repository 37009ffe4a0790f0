"""Delivered output: the content bytes of stream events, never their JSON.

`reference()` below measures the same content the slow, obvious way (decode
every event, walk its fields), written apart from the code under test; every
recorded stream and the mock provider's streams must measure the same by both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.gateway.relay.delivered import (
    anthropic_messages,
    counter_for,
    gemini,
    openai_chat,
    openai_responses,
    whole_answer,
)
from services.gateway.relay.sse import SseEvent, SseParser
from tests.gateway.mock_streams import stream_events, text_completion

WIRE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "wire"
STREAMS = sorted(str(path.relative_to(WIRE)) for path in WIRE.glob("*/*.sse"))


def _utf8(value: object) -> int:
    return len(value.encode()) if isinstance(value, str) else 0


def _reference_chat(payload: dict[str, Any]) -> int:
    total = 0
    for choice in payload.get("choices") or []:
        delta = choice.get("delta") or {}
        for key in ("content", "refusal", "reasoning_content", "reasoning"):
            total += _utf8(delta.get(key))
        for call in delta.get("tool_calls") or []:
            function = call.get("function") or {}
            total += _utf8(function.get("name")) + _utf8(function.get("arguments"))
    return total


def _reference_responses(payload: dict[str, Any]) -> int:
    kind = payload.get("type", "")
    if kind.endswith(".delta") and kind != "response.audio.delta":
        return _utf8(payload.get("delta"))
    return 0


def _reference_anthropic(payload: dict[str, Any]) -> int:
    if payload.get("type") != "content_block_delta":
        return 0
    delta = payload["delta"]
    return sum(_utf8(delta.get(key)) for key in ("text", "partial_json", "thinking"))


def _reference_gemini(payload: dict[str, Any]) -> int:
    total = 0
    for candidate in payload.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            total += _utf8(part.get("text"))
            if "functionCall" in part:
                call = part["functionCall"]
                total += _utf8(call.get("name")) + len(orjson.dumps(call.get("args")))
    return total


REFERENCE = {
    "openai_chat": _reference_chat,
    "openai_responses": _reference_responses,
    "anthropic_messages": _reference_anthropic,
    "gemini": _reference_gemini,
}


def reference(api: str, events: list[SseEvent]) -> int:
    total = 0
    for event in events:
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(payload, dict):
            total += REFERENCE[api](payload)
    return total


def events_of(body: bytes) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed(body) + parser.close()


def measured(api: str, events: list[SseEvent]) -> int:
    count = counter_for(api)
    return sum(count(event) for event in events)


def event(data: object, name: str | None = None) -> SseEvent:
    payload = orjson.dumps(data)
    return SseEvent(event=name, data=payload, raw=b"data: " + payload + b"\n\n")


# ---- recorded streams ----------------------------------------------------------


@pytest.mark.parametrize("file", STREAMS)
def test_recorded_streams_measure_their_content(file: str) -> None:
    api = file.split("/")[0]
    events = events_of((WIRE / file).read_bytes())

    content = measured(api, events)

    assert content == reference(api, events)
    assert content < sum(len(event.data) for event in events)  # what the old estimate counted


def test_a_recorded_stream_without_event_lines_measures_the_same() -> None:
    body = (WIRE / "openai_responses" / "stream_function_call.sse").read_bytes()
    events = events_of(body)
    nameless = [SseEvent(event=None, data=e.data, raw=e.raw) for e in events]

    assert measured("openai_responses", nameless) == measured("openai_responses", events) > 0


def test_anthropic_web_search_citations_are_not_content() -> None:
    events = events_of(
        (WIRE / "anthropic_messages" / "stream_web_search_cumulative_usage.sse").read_bytes()
    )
    citations = [e for e in events if b'"citations_delta"' in e.data]

    assert citations and all(anthropic_messages(e) == 0 for e in citations)


# ---- the mock provider's streams: 100 one-word pieces ---------------------------


@pytest.mark.parametrize("api", ["openai_chat", "openai_responses", "anthropic_messages"])
def test_100_one_word_pieces_measure_their_words(api: str) -> None:
    completion = text_completion("gpt-4o-mini", 100, digest="0" * 64)
    events = stream_events(api, completion)

    content = measured(api, events)

    assert content == len(completion.text.encode())
    assert 100 * 4 <= content <= 200 * 4  # 100 to 200 tokens at 4 bytes a token
    assert sum(len(event.data) for event in events) > 10 * content


# ---- escapes, and keys that are not keys ---------------------------------------


def test_escaped_text_is_measured_decoded() -> None:
    text = 'a "quote"\n\\ and 中文 and \U0001f600'
    escaped = orjson.dumps(text).decode()
    assert "\\" in escaped
    ascii_escaped = '"a \\"quote\\"\\n\\\\ and \\u4e2d\\u6587 and \\ud83d\\ude00"'

    for data in (escaped, ascii_escaped):
        chunk = b'{"choices":[{"index":0,"delta":{"content":' + data.encode() + b"}}]}"
        assert openai_chat(SseEvent(event=None, data=chunk, raw=b"")) == len(text.encode())


def test_a_key_quoted_inside_the_text_is_not_counted_twice() -> None:
    text = 'he wrote "text":"nothing" and "content": "x"'
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }
    chunk = {"choices": [{"delta": {"content": text}}]}

    assert anthropic_messages(event(delta, "content_block_delta")) == len(text.encode())
    assert openai_chat(event(chunk)) == len(text.encode())


# ---- per format ----------------------------------------------------------------


def test_chat_counts_every_choice_tool_calls_reasoning_and_refusals() -> None:
    chunk = {
        "choices": [
            {"index": 0, "delta": {"content": "abc", "reasoning_content": "think"}},
            {"index": 1, "delta": {"refusal": "no"}},
            {
                "index": 2,
                "delta": {"tool_calls": [{"function": {"name": "f", "arguments": '{"a":1}'}}]},
            },
        ],
        "usage": None,
    }

    assert openai_chat(event(chunk)) == 3 + 5 + 2 + 1 + 7


def test_chat_usage_chunks_done_and_role_chunks_carry_no_content() -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}}
    role = {"choices": [{"delta": {"role": "assistant", "content": "", "refusal": None}}]}
    logprobs = {"choices": [{"delta": {}, "logprobs": {"content": [{"token": "x"}]}}]}

    assert openai_chat(event(usage)) == 0
    assert openai_chat(event(role)) == 0
    assert openai_chat(event(logprobs)) == 0
    assert openai_chat(SseEvent(event=None, data=b"[DONE]", raw=b"")) == 0


def test_responses_counts_deltas_only_and_no_audio() -> None:
    def named(kind: str, **fields: object) -> SseEvent:
        return event({"type": kind, "sequence_number": 1, **fields}, kind)

    assert openai_responses(named("response.output_text.delta", delta="hello")) == 5
    assert openai_responses(named("response.reasoning_summary_text.delta", delta="hm")) == 2
    assert openai_responses(named("response.function_call_arguments.delta", delta="{}")) == 2
    assert openai_responses(named("response.output_text.done", text="hello")) == 0
    assert openai_responses(named("response.audio.delta", delta="QUJD")) == 0
    completed = {"response": {"output": [{"content": [{"text": "hello", "delta": "x"}]}]}}
    assert openai_responses(named("response.completed", **completed)) == 0


def test_anthropic_counts_text_tool_input_and_thinking_not_signatures() -> None:
    def delta(**fields: object) -> SseEvent:
        return event({"type": "content_block_delta", "index": 0, "delta": fields})

    assert anthropic_messages(delta(type="text_delta", text="hi")) == 2
    assert anthropic_messages(delta(type="input_json_delta", partial_json='{"a"')) == 4
    assert anthropic_messages(delta(type="thinking_delta", thinking="hmm")) == 3
    assert anthropic_messages(delta(type="signature_delta", signature="EqQBCgIYAh")) == 0
    start = {"type": "content_block_start", "content_block": {"type": "text", "text": "x"}}
    assert anthropic_messages(event(start, "content_block_start")) == 0


def test_gemini_counts_text_thoughts_and_calls_not_grounding() -> None:
    chunk = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "seen", "thought": True},
                        {"text": "said"},
                        {"functionCall": {"name": "f", "args": {"a": 1}}},
                        {"executableCode": {"language": "PYTHON", "code": "x=1"}},
                    ]
                },
                "groundingMetadata": {"groundingSupports": [{"segment": {"text": "said"}}]},
            }
        ],
        "usageMetadata": {"promptTokenCount": 3},
    }

    assert gemini(event(chunk)) == 4 + 4 + 1 + len(b'{"a":1}') + 3
    assert gemini(event({"usageMetadata": {"promptTokenCount": 3}})) == 0


@pytest.mark.parametrize("api", ["openai_chat", "openai_responses", "anthropic_messages", "gemini"])
def test_broken_events_count_nothing_and_never_raise(api: str) -> None:
    count = counter_for(api)
    for data in (b"", b"{", b'{"parts":', b"[1,2]", b'"text":"\\', b"\xff\xfe"):
        assert count(SseEvent(event=None, data=data, raw=data)) >= 0


def test_no_counter_for_apis_that_never_stream() -> None:
    with pytest.raises(ValueError, match="openai_embeddings"):
        counter_for("openai_embeddings")


def test_chat_chunks_of_several_plain_choices_count_every_choice() -> None:
    chunk = {
        "choices": [
            {"index": 0, "delta": {"content": "ab"}},
            {"index": 1, "delta": {"content": "cde"}},
        ]
    }

    assert openai_chat(event(chunk)) == 5


def test_a_responses_delta_with_escapes_or_spaces_is_decoded() -> None:
    spaced = b'{"type": "response.output_text.delta", "delta": "a\\"b"}'

    assert openai_responses(SseEvent(event="response.output_text.delta", data=spaced, raw=b"")) == 3


# ---- whole answers -------------------------------------------------------------

WHOLE = sorted(
    str(path.relative_to(WIRE))
    for path in WIRE.glob("*/nonstream_*.json")
    if not path.parent.name.startswith("openai_embeddings")
) + ["gemini/generate_cached_content_thoughts.json"]


@pytest.mark.parametrize("file", WHOLE)
def test_a_recorded_whole_answer_measures_its_content_not_its_json(file: str) -> None:
    body = (WIRE / file).read_bytes()

    content = whole_answer(file.split("/")[0], body)

    assert 0 < content < len(body)


def test_whole_answers_count_text_tools_and_reasoning() -> None:
    chat = {
        "choices": [
            {
                "message": {
                    "content": "hi",
                    "reasoning_content": "hmm",
                    "tool_calls": [{"function": {"name": "f", "arguments": '{"a":1}'}}],
                }
            }
        ]
    }
    responses = {
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]},
            {"type": "function_call", "name": "f", "arguments": "{}"},
            {"type": "message", "content": [{"type": "output_text", "text": "héllo"}]},
        ]
    }
    anthropic = {
        "content": [
            {"type": "thinking", "thinking": "hm", "signature": "EqQBCgIYAh"},
            {"type": "text", "text": "hey"},
            {"type": "tool_use", "name": "g", "input": {"b": 2}},
        ]
    }
    gemini_body = {"candidates": [{"content": {"parts": [{"text": "yo"}]}}]}

    assert whole_answer("openai_chat", orjson.dumps(chat)) == 2 + 3 + 1 + 7
    assert whole_answer("openai_responses", orjson.dumps(responses)) == 5 + 1 + 2 + 6
    assert whole_answer("anthropic_messages", orjson.dumps(anthropic)) == 2 + 3 + 1 + 7
    assert whole_answer("gemini", orjson.dumps(gemini_body)) == 2
    assert whole_answer(None, b'{"data": []}') == 0
    assert whole_answer("openai_chat", b"not json") == 0
