"""Output delivered: how many bytes of model output one stream event carries.

When a stream is cut short (the client hangs up, the upstream breaks), the
provider's final usage never comes and the output is billed as delivered
(DESIGN.md §6): the content the client received, at the estimate's 4 bytes a
token (`estimate`). This module measures that content, per wire format, one
event at a time. Rules it keeps:

- Content is what the model wrote and the client got: text deltas, tool-call
  argument (and name) deltas, reasoning or thinking deltas, refusals, code.
  Never the event's JSON around it (ids, model names, `sequence_number`, an
  empty `logprobs`), never a `*.done` event repeating deltas already counted,
  never signatures, citations or audio (not text the model was billed for as
  such), never the usage chunk.
- Bytes are the UTF-8 bytes of the decoded text: a JSON string with escapes
  (`\\"`, `\\n`, `\\u4e2d`) is decoded first, so escaping never inflates it.
- Cheap tests first: the event name, or a byte search, picks the events that
  can carry content; a string value is found with one regular expression over
  the event's bytes and decoded only when it holds a backslash. A key with a
  string value is found only where it is a key: inside a JSON string every
  quote is escaped, so `"text":"` cannot match there. Gemini chunks, whose
  parts nest and whose grounding metadata repeats text, are decoded whole.
- Never raises: an event that fails to decode counts as no content.
- No IO.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import orjson

from services.gateway.sse import SseEvent

ContentCounter = Callable[[SseEvent], int]

# A JSON string's body, escapes included (the "unrolled loop": linear, no backtracking).
_STRING_BODY = rb'"([^"\\]*(?:\\.[^"\\]*)*)"'


def _string_values(*keys: str) -> re.Pattern[bytes]:
    names = b"|".join(re.escape(key.encode()) for key in keys)
    return re.compile(rb'"(?:' + names + rb')"\s*:\s*' + _STRING_BODY, re.DOTALL)


def _text_bytes(escaped: bytes) -> int:
    """UTF-8 bytes of a JSON string body as found in the event."""
    if b"\\" not in escaped:
        return len(escaped)
    try:
        text = orjson.loads(b'"' + escaped + b'"')
    except orjson.JSONDecodeError:
        return len(escaped)
    return len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else 0


def _sum_values(pattern: re.Pattern[bytes], data: bytes) -> int:
    return sum(_text_bytes(match.group(1)) for match in pattern.finditer(data))


def _first_type(data: bytes) -> str | None:
    """The event's `type`, for a stream whose proxy dropped the `event:` lines."""
    match = _TYPE.search(data)
    return None if match is None else match.group(1).decode("ascii", "replace")


_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.]*)"')


# ---- OpenAI chat: choices[].delta -----------------------------------------------

# `reasoning_content` and `reasoning` are what OpenAI-compatible servers
# (DeepSeek, vLLM, OpenRouter) stream the reasoning in; OpenAI sends none.
_CHAT_CONTENT = _string_values(
    "content", "refusal", "reasoning_content", "reasoning", "arguments", "name"
)


def openai_chat(event: SseEvent) -> int:
    """A chunk's text, refusal, reasoning and tool-call name and argument deltas.

    Only `delta` holds strings under these keys in a chunk (`logprobs.content`
    is a list), so one search over the chunk finds them all, every choice's.
    """
    if b'"delta"' not in event.data:
        return 0
    return _sum_values(_CHAT_CONTENT, event.data)


# ---- OpenAI Responses: response.*.delta events -----------------------------------

_RESPONSES_DELTA = _string_values("delta")
# Audio deltas are base64 of audio, not text; its transcript is counted.
_RESPONSES_NOT_TEXT = frozenset({"response.audio.delta"})


def openai_responses(event: SseEvent) -> int:
    """The `delta` string of every `response.*.delta` event (text, arguments, reasoning)."""
    name = event.event
    if name is None:
        if b".delta" not in event.data:
            return 0
        name = _first_type(event.data)
    if name is None or not name.endswith(".delta") or name in _RESPONSES_NOT_TEXT:
        return 0
    return _sum_values(_RESPONSES_DELTA, event.data)


# ---- Anthropic: content_block_delta ----------------------------------------------

# text_delta, input_json_delta, thinking_delta; signature_delta and
# citations_delta carry none of these keys.
_ANTHROPIC_CONTENT = _string_values("text", "partial_json", "thinking")
_ANTHROPIC_DELTA_TYPE = re.compile(rb'"type"\s*:\s*"content_block_delta"')


def anthropic_messages(event: SseEvent) -> int:
    """The text, tool input or thinking of a `content_block_delta`."""
    if event.event is not None:
        if event.event != "content_block_delta":
            return 0
    elif _ANTHROPIC_DELTA_TYPE.search(event.data) is None:
        return 0
    return _sum_values(_ANTHROPIC_CONTENT, event.data)


# ---- Gemini: candidates[].content.parts[] ------------------------------------------


def gemini(event: SseEvent) -> int:
    """Every part's text (thoughts included), function call and code of one chunk."""
    if b'"parts"' not in event.data:
        return 0
    try:
        chunk = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return 0
    if not isinstance(chunk, Mapping):
        return 0
    return sum(_part_bytes(part) for part in _parts(chunk.get("candidates")))


def _parts(candidates: object) -> Iterable[object]:
    if not isinstance(candidates, list):
        return
    for candidate in candidates:
        content = candidate.get("content") if isinstance(candidate, Mapping) else None
        parts = content.get("parts") if isinstance(content, Mapping) else None
        if isinstance(parts, list):
            yield from parts


def _part_bytes(part: object) -> int:
    if not isinstance(part, Mapping):
        return 0
    total = 0
    text = part.get("text")
    if isinstance(text, str):
        total += _utf8_len(text)
    call = part.get("functionCall")
    if isinstance(call, Mapping):
        name = call.get("name")
        total += _utf8_len(name) if isinstance(name, str) else 0
        if call.get("args") is not None:
            total += len(orjson.dumps(call.get("args")))
    code = part.get("executableCode")
    if isinstance(code, Mapping) and isinstance(code.get("code"), str):
        total += _utf8_len(code["code"])
    return total


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


_COUNTERS: dict[str, ContentCounter] = {
    "openai_chat": openai_chat,
    "openai_responses": openai_responses,
    "anthropic_messages": anthropic_messages,
    "gemini": gemini,
}


def counter_for(api: str) -> ContentCounter:
    """The content counter for streams of `api` (a `usage.tracker_for` name)."""
    try:
        return _COUNTERS[api]
    except KeyError:
        raise ValueError(f"no content counter for api {api!r}") from None
