"""Output delivered: how many bytes of model output stream events carry.

When a stream is cut short (the client hangs up, the upstream breaks), the
provider's final usage never comes and the output is billed as delivered
(DESIGN.md §6): the content the client received, at the estimate's 4 bytes a
token (`estimate`). This module measures that content, per wire format, one
event at a time. Rules it keeps:

- Content is what the model wrote and the client got: text deltas, tool-call
  argument (and name) deltas, reasoning or thinking deltas, refusals, code.
  Never the event's JSON around it (ids, model names, `sequence_number`, an
  empty `logprobs`), never a `*.done` event repeating deltas already counted,
  never signatures, citations, grounding metadata or audio (not text the
  model was billed for as such), never the usage chunk.
- Bytes are the UTF-8 bytes of the decoded text, so JSON escaping (`\\"`,
  `\\n`, `\\u4e2d`) never inflates them.
- Cheap tests first: the event name, or one byte search, skips the events
  that cannot carry content; the others are decoded (orjson decodes a small
  event in less time than a pattern search over its bytes for several keys
  takes, and a decoded event cannot be misread). The commonest content
  events, an OpenAI chunk of one choice's text and a Responses delta, have a
  byte-level fast path (`_plain_string_after`) taken only when the event can
  hold nothing else: one such key, a string without escapes; anything else
  is decoded.
- The relay need not measure events as they pass: a stream that ends with
  the provider's usage never needs them (`relay_stream` measures late, in
  bounded batches).
- Never raises: an event that fails to decode counts as no content.
- No IO.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import orjson

from services.gateway.relay.sse import SseEvent

ContentCounter = Callable[[SseEvent], int]


def _decoded(data: bytes) -> Mapping[str, object] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _plain_string_after(data: bytes, key: bytes, start: int = 0) -> int:
    """Bytes of the string value that follows `key` (ending in its opening quote), or -1.

    -1 when the key is absent, the string holds an escape (a backslash) or is
    unterminated: the caller decodes the event instead. Inside a JSON string
    every quote is escaped, so a `key` ending in `":"` is found only as a key.
    """
    at = data.find(key, start)
    if at < 0:
        return -1
    value_start = at + len(key)
    value_end = data.find(b'"', value_start)
    if value_end < 0 or data.find(b"\\", value_start, value_end) >= 0:
        return -1
    return value_end - value_start


def _utf8(value: object) -> int:
    if not isinstance(value, str):
        return 0
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[object]:
    return value if isinstance(value, list) else []


# ---- OpenAI chat: choices[].delta -----------------------------------------------

# `reasoning_content` and `reasoning` are what OpenAI-compatible servers
# (DeepSeek, vLLM, OpenRouter) stream the reasoning in; OpenAI sends none.
_CHAT_TEXT_KEYS = ("content", "refusal", "reasoning_content", "reasoning")


_CHAT_TEXT_ONLY = b'"delta":{"content":"'


def openai_chat(event: SseEvent) -> int:
    """Every choice's text, refusal, reasoning, and tool-call name and argument deltas."""
    data = event.data
    first_delta = data.find(b'"delta"')
    if first_delta < 0:
        return 0  # the usage chunk, `[DONE]`
    if data.startswith(_CHAT_TEXT_ONLY, first_delta):
        # One choice whose delta is its text alone: `{"content":"..."}`.
        size = _plain_string_after(data, _CHAT_TEXT_ONLY, first_delta)
        end = first_delta + len(_CHAT_TEXT_ONLY) + size
        if size >= 0 and data.startswith(b'"}', end) and data.find(b'"delta"', end) < 0:
            return size
    chunk = _decoded(data)
    if chunk is None:
        return 0
    total = 0
    for choice in _items(chunk.get("choices")):
        delta = _mapping(_mapping(choice).get("delta"))
        for key in _CHAT_TEXT_KEYS:
            total += _utf8(delta.get(key))
        calls = [_mapping(call).get("function") for call in _items(delta.get("tool_calls"))]
        for call in (*calls, delta.get("function_call")):
            function = _mapping(call)
            total += _utf8(function.get("name")) + _utf8(function.get("arguments"))
    return total


# ---- OpenAI Responses: response.*.delta events -----------------------------------

# Audio deltas are base64 of audio, not text; its transcript is counted.
_RESPONSES_NOT_TEXT = frozenset({"response.audio.delta"})


def openai_responses(event: SseEvent) -> int:
    """The `delta` string of every `response.*.delta` event (text, arguments, reasoning)."""
    name = event.event
    if name is not None and (not name.endswith(".delta") or name in _RESPONSES_NOT_TEXT):
        return 0
    if name is None and b".delta" not in event.data:
        return 0
    if name is not None:
        # A named delta event has one `delta` key: its string is the content.
        size = _plain_string_after(event.data, b'"delta":"')
        if size >= 0:
            return size
    payload = _decoded(event.data)
    if payload is None:
        return 0
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind.endswith(".delta") or kind in _RESPONSES_NOT_TEXT:
        return 0
    return _utf8(payload.get("delta"))


# ---- Anthropic: content_block_delta ----------------------------------------------

# text_delta, input_json_delta, thinking_delta; signature_delta and
# citations_delta carry none of these keys.
_ANTHROPIC_KEYS = ("text", "partial_json", "thinking")


def anthropic_messages(event: SseEvent) -> int:
    """The text, tool input or thinking of a `content_block_delta`."""
    if event.event is not None:
        if event.event != "content_block_delta":
            return 0
    elif b"content_block_delta" not in event.data:
        return 0
    payload = _decoded(event.data)
    if payload is None or payload.get("type") != "content_block_delta":
        return 0
    delta = _mapping(payload.get("delta"))
    return sum(_utf8(delta.get(key)) for key in _ANTHROPIC_KEYS)


# ---- Gemini: candidates[].content.parts[] ------------------------------------------


def gemini(event: SseEvent) -> int:
    """Every part's text (thoughts included), function call and code of one chunk."""
    if b'"parts"' not in event.data:
        return 0
    chunk = _decoded(event.data)
    if chunk is None:
        return 0
    return sum(_part_bytes(_mapping(part)) for part in _parts(chunk.get("candidates")))


def _parts(candidates: object) -> Iterable[object]:
    for candidate in _items(candidates):
        yield from _items(_mapping(_mapping(candidate).get("content")).get("parts"))


def _part_bytes(part: Mapping[str, object]) -> int:
    total = _utf8(part.get("text"))
    call = part.get("functionCall")
    if isinstance(call, Mapping):
        total += _utf8(call.get("name"))
        if call.get("args") is not None:
            total += len(orjson.dumps(call.get("args")))
    return total + _utf8(_mapping(part.get("executableCode")).get("code"))


# ---- whole answers ---------------------------------------------------------------
#
# A whole answer without usage (rare: an OpenAI-compatible server that sends
# none) is estimated from the same content, read from the answer's body.


def _chat_answer(body: Mapping[str, object]) -> int:
    total = 0
    for choice in _items(body.get("choices")):
        message = _mapping(_mapping(choice).get("message"))
        total += sum(_utf8(message.get(key)) for key in _CHAT_TEXT_KEYS)
        calls = [_mapping(call).get("function") for call in _items(message.get("tool_calls"))]
        for call in (*calls, message.get("function_call")):
            function = _mapping(call)
            total += _utf8(function.get("name")) + _utf8(function.get("arguments"))
    return total


def _responses_answer(body: Mapping[str, object]) -> int:
    total = 0
    for item in map(_mapping, _items(body.get("output"))):
        total += _utf8(item.get("name")) + _utf8(item.get("arguments")) + _utf8(item.get("input"))
        for part in map(_mapping, (*_items(item.get("content")), *_items(item.get("summary")))):
            total += _utf8(part.get("text")) + _utf8(part.get("refusal"))
    return total


def _anthropic_answer(body: Mapping[str, object]) -> int:
    total = 0
    for block in map(_mapping, _items(body.get("content"))):
        total += _utf8(block.get("text")) + _utf8(block.get("thinking"))
        if block.get("type") in ("tool_use", "server_tool_use"):
            total += _utf8(block.get("name")) + len(orjson.dumps(block.get("input")))
    return total


def _gemini_answer(body: Mapping[str, object]) -> int:
    return sum(_part_bytes(_mapping(part)) for part in _parts(body.get("candidates")))


_WHOLE: dict[str, Callable[[Mapping[str, object]], int]] = {
    "openai_chat": _chat_answer,
    "openai_responses": _responses_answer,
    "anthropic_messages": _anthropic_answer,
    "gemini": _gemini_answer,
}


def whole_answer(api: str | None, body: bytes) -> int:
    """Content bytes of a whole answer's body; 0 for an API with no output or a bad body."""
    read = _WHOLE.get(api or "")
    answer = None if read is None else _decoded(body)
    return 0 if read is None or answer is None else read(answer)


_COUNTERS: dict[str, ContentCounter] = {
    "openai_chat": openai_chat,
    "openai_responses": openai_responses,
    "anthropic_messages": anthropic_messages,
    "gemini": gemini,
}


def counter_for(api: str) -> ContentCounter:
    """The content counter for streams of `api` (a `stream_usage.tracker_for` name)."""
    try:
        return _COUNTERS[api]
    except KeyError:
        raise ValueError(f"no content counter for api {api!r}") from None
