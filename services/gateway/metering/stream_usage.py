"""Token usage in streams: one tracker per streaming API, fed every event.

Rules this module keeps (the counts' own rules are `provider_usage`'s):

- Streaming trackers decode as little as they can: a cheap test of the event
  name or of the bytes comes first, and only events that can carry usage are
  parsed. `feed()` never raises: an event that fails to decode or to read is
  skipped for usage, and the relay keeps streaming.
- A stream's `usage` is the provider's final count, and only that: it is set
  by the event that ends the answer (the chat usage chunk, Responses'
  `response.completed`/`incomplete`/`failed`, Anthropic's `message_delta`,
  a Gemini chunk at or after a `finishReason`). What a provider reports on
  the way (Anthropic's `message_start`, whose `output_tokens` is a
  placeholder; Gemini's `usageMetadata` on every chunk) is `partial_usage`:
  the input and cache counts of a stream cut short, never its bill.
- No IO.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Protocol

import orjson

from services.gateway.metering.provider_usage import (
    JsonObject,
    TokenUsage,
    UsageError,
    anthropic_usage,
    from_gemini,
    from_openai_chat,
    from_openai_responses,
    section_of,
)
from services.gateway.relay.sse import SseEvent


class UsageTracker(Protocol):
    """Watches one stream's events and knows its usage so far."""

    def feed(self, event: SseEvent) -> None: ...

    @property
    def usage(self) -> TokenUsage | None:
        """The provider's final usage; None until the event that ends the answer."""
        ...

    @property
    def partial_usage(self) -> TokenUsage | None:
        """What the provider reported before its end, for a stream cut short.

        Its input and cache counts are the provider's; its output counts only
        what was already streamed (0 where the provider's figure is a
        placeholder). None when the format reports nothing on the way.
        """
        ...


# JSON may put whitespace around the colon; `"usage":null` must not match.
_OPENAI_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
_RESPONSES_FINAL_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed"}
)
_RESPONSES_FINAL_TYPE = re.compile(rb'"type"\s*:\s*"response\.(?:completed|incomplete|failed)"')
_ANTHROPIC_USAGE_EVENTS = frozenset({"message_start", "message_delta"})
_ANTHROPIC_USAGE_TYPE = re.compile(rb'"type"\s*:\s*"message_(?:start|delta)"')
# A key with a string value: inside a JSON string every quote is escaped.
_GEMINI_FINISH = re.compile(rb'"finishReason"\s*:\s*"')


def _decode(data: bytes) -> JsonObject | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _readable(read: Callable[[object], TokenUsage | None], body: object) -> TokenUsage | None:
    try:
        return read(body)
    except UsageError:
        return None


def _may_be_one_of(event: SseEvent, names: frozenset[str], type_pattern: re.Pattern[bytes]) -> bool:
    """Cheap pre-test by event name; by the payload's type when a proxy dropped `event:`."""
    if event.event is not None:
        return event.event in names
    return type_pattern.search(event.data) is not None


def is_usage_only_chunk(event: SseEvent) -> bool:
    """Whether this OpenAI chat chunk is the usage chunk `include_usage` adds.

    It has no choices, only usage: the gateway hides it from a client that did
    not ask for it, and nothing the model wrote is lost by doing so.
    """
    if _OPENAI_USAGE_OBJECT.search(event.data) is None:
        return False
    chunk = _decode(event.data)
    if chunk is None:
        return False
    choices = chunk.get("choices")
    return (choices is None or choices == []) and isinstance(chunk.get("usage"), dict)


class OpenAIChatUsageTracker:
    """Chat completions: usage comes in the last chunk; the others say `"usage":null`."""

    partial_usage = None  # nothing on the way: usage is only in the last chunk

    def __init__(self) -> None:
        self._usage: TokenUsage | None = None

    @property
    def usage(self) -> TokenUsage | None:
        return self._usage

    def feed(self, event: SseEvent) -> None:
        if _OPENAI_USAGE_OBJECT.search(event.data) is None:
            return
        usage = _readable(from_openai_chat, _decode(event.data))
        if usage is not None:
            self._usage = usage


class OpenAIResponsesUsageTracker:
    """Responses API: usage comes with the final `response.*` event."""

    partial_usage = None  # `response.created` and the rest carry `"usage": null`

    def __init__(self) -> None:
        self._usage: TokenUsage | None = None

    @property
    def usage(self) -> TokenUsage | None:
        return self._usage

    def feed(self, event: SseEvent) -> None:
        if not _may_be_one_of(event, _RESPONSES_FINAL_EVENTS, _RESPONSES_FINAL_TYPE):
            return
        final_event = _decode(event.data)
        if final_event is None or final_event.get("type") not in _RESPONSES_FINAL_EVENTS:
            return
        usage = _readable(from_openai_responses, final_event.get("response"))
        if usage is not None:
            self._usage = usage


class AnthropicUsageTracker:
    """Messages API: `message_start` opens the count, each `message_delta` updates it.

    `message_delta.usage` is cumulative: every field it carries replaces the
    one held so far (server-side tools raise the input and cache counts there),
    and a field it leaves out, or sends as null, keeps its earlier value.
    It comes after the last content block, so the first one makes the usage
    final; until then only `partial_usage` is known: `message_start`'s input
    and cache counts, with its `output_tokens` (a placeholder: 1, or whatever
    the provider guessed) left out.
    """

    def __init__(self) -> None:
        self._fields: dict[str, object] = {}
        self._usage: TokenUsage | None = None
        self._final = False

    @property
    def usage(self) -> TokenUsage | None:
        return self._usage if self._final else None

    @property
    def partial_usage(self) -> TokenUsage | None:
        if self._usage is None or self._final:
            return self._usage
        return dataclasses.replace(self._usage, output_tokens=0, reasoning_tokens=0)

    def feed(self, event: SseEvent) -> None:
        if not _may_be_one_of(event, _ANTHROPIC_USAGE_EVENTS, _ANTHROPIC_USAGE_TYPE):
            return
        message_event = _decode(event.data)
        if message_event is None:
            return
        kind = message_event.get("type")
        try:
            if kind == "message_start":
                carried = section_of(message_event.get("message"), "usage")
                fields: dict[str, object] = {}
            elif kind == "message_delta":
                carried = section_of(message_event, "usage")
                fields = dict(self._fields)
            else:
                return
            if carried is None:
                return
            fields.update((key, value) for key, value in carried.items() if value is not None)
            usage = anthropic_usage(fields)
        except UsageError:
            return
        self._fields, self._usage = fields, usage
        self._final = self._final or kind == "message_delta"


class GeminiUsageTracker:
    """Gemini `alt=sse`: any chunk may carry `usageMetadata`; the last one wins whole.

    Every chunk carries the counts so far, so they are final only from the
    chunk that carries a `finishReason` on: before it they are `partial_usage`
    (the prompt counts, and the output, thoughts included, already streamed).
    """

    def __init__(self) -> None:
        self._usage: TokenUsage | None = None
        self._finished = False

    @property
    def usage(self) -> TokenUsage | None:
        return self._usage if self._finished else None

    @property
    def partial_usage(self) -> TokenUsage | None:
        return self._usage

    def feed(self, event: SseEvent) -> None:
        if not self._finished and _GEMINI_FINISH.search(event.data) is not None:
            self._finished = True
        if b'"usageMetadata"' not in event.data:
            return
        usage = _readable(from_gemini, _decode(event.data))
        if usage is not None:
            self._usage = usage


_TRACKERS: dict[str, Callable[[], UsageTracker]] = {
    "openai_chat": OpenAIChatUsageTracker,
    "openai_responses": OpenAIResponsesUsageTracker,
    "anthropic_messages": AnthropicUsageTracker,
    "gemini": GeminiUsageTracker,
}
STREAMING_APIS = frozenset(_TRACKERS)


def tracker_for(api: str) -> UsageTracker:
    """A fresh tracker for one stream of `api` (one of `STREAMING_APIS`)."""
    try:
        make_tracker = _TRACKERS[api]
    except KeyError:
        raise ValueError(f"no usage tracker for api {api!r}") from None
    return make_tracker()
