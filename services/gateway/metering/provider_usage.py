"""Token usage: read from every provider's responses into one normalised shape.

Usage events, usage records and prices all speak `TokenUsage` (DESIGN.md §4).
Rules this module keeps:

- Each token is counted once. `input_tokens` is uncached input; cache reads
  and cache writes are counted apart from it; `output_tokens` includes
  reasoning, and `reasoning_tokens` is only the display breakdown of it.
- Where a provider's input count includes its cached tokens (OpenAI, Gemini),
  the cached ones are taken out of it, never more than the input count, so
  uncached + cached always equals what the provider reported as input.
- A missing or null count is 0. A count that is not a non-negative integer
  makes that usage unreadable (`UsageError`); it is never guessed to be 0.
- No usage at all is `None`, not zeros: the caller decides what an unmetered
  answer costs.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from services.gateway.relay.sse import SseEvent

JsonObject = Mapping[str, object]


class UsageError(ValueError):
    """Usage is present but unreadable; the hint is the status to answer."""

    def __init__(self, message: str, *, error_status_hint: int = 502) -> None:
        super().__init__(message)
        self.error_status_hint = error_status_hint


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one answer, normalised; see the module docstring."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    # Anthropic bills server-side web searches per request, apart from tokens.
    web_search_requests: int = 0

    @property
    def total(self) -> int:
        """Every token once; reasoning is already inside output."""
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.output_tokens
        )


# ---- reading counts ------------------------------------------------------------


def _count(fields: JsonObject, key: str) -> int:
    value = fields.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"usage field {key!r} is not a token count: {value!r}")
    return value


def _section(fields: object, key: str) -> JsonObject | None:
    """The object under `key`, None if absent or null; anything else is an error."""
    if not isinstance(fields, Mapping):
        return None
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise UsageError(f"usage field {key!r} is not an object: {value!r}")
    return value


def _split_cached(input_total: int, cached: int) -> tuple[int, int]:
    """Split an input count that includes cached tokens into (uncached, cached)."""
    cached = min(cached, input_total)
    return input_total - cached, cached


# ---- one normaliser per format -------------------------------------------------


def _openai_chat_usage(usage: JsonObject) -> TokenUsage:
    prompt_details = _section(usage, "prompt_tokens_details") or {}
    completion_details = _section(usage, "completion_tokens_details") or {}
    uncached, cached = _split_cached(
        _count(usage, "prompt_tokens"), _count(prompt_details, "cached_tokens")
    )
    return TokenUsage(
        input_tokens=uncached,
        cache_read_tokens=cached,
        output_tokens=_count(usage, "completion_tokens"),
        reasoning_tokens=_count(completion_details, "reasoning_tokens"),
    )


def _openai_responses_usage(usage: JsonObject) -> TokenUsage:
    input_details = _section(usage, "input_tokens_details") or {}
    output_details = _section(usage, "output_tokens_details") or {}
    uncached, cached = _split_cached(
        _count(usage, "input_tokens"), _count(input_details, "cached_tokens")
    )
    return TokenUsage(
        input_tokens=uncached,
        cache_read_tokens=cached,
        output_tokens=_count(usage, "output_tokens"),
        reasoning_tokens=_count(output_details, "reasoning_tokens"),
    )


def _anthropic_usage(usage: JsonObject) -> TokenUsage:
    server_tool_use = _section(usage, "server_tool_use") or {}
    return TokenUsage(
        input_tokens=_count(usage, "input_tokens"),
        cache_read_tokens=_count(usage, "cache_read_input_tokens"),
        cache_write_tokens=_count(usage, "cache_creation_input_tokens"),
        output_tokens=_count(usage, "output_tokens"),
        web_search_requests=_count(server_tool_use, "web_search_requests"),
    )


def _gemini_usage(usage: JsonObject) -> TokenUsage:
    uncached, cached = _split_cached(
        _count(usage, "promptTokenCount"), _count(usage, "cachedContentTokenCount")
    )
    thoughts = _count(usage, "thoughtsTokenCount")
    return TokenUsage(
        input_tokens=uncached,
        cache_read_tokens=cached,
        output_tokens=_count(usage, "candidatesTokenCount") + thoughts,
        reasoning_tokens=thoughts,
    )


def _openai_embeddings_usage(usage: JsonObject) -> TokenUsage:
    return TokenUsage(input_tokens=_count(usage, "prompt_tokens"))


# ---- whole JSON bodies ---------------------------------------------------------


def from_openai_chat(body: object) -> TokenUsage | None:
    """Usage of a chat completion, or of one streamed chunk; None if it has none."""
    usage = _section(body, "usage")
    return None if usage is None else _openai_chat_usage(usage)


def from_openai_responses(body: object) -> TokenUsage | None:
    """Usage of a Responses API response object; None if it has none."""
    usage = _section(body, "usage")
    return None if usage is None else _openai_responses_usage(usage)


def from_anthropic(body: object) -> TokenUsage | None:
    """Usage of an Anthropic message; None if it has none."""
    usage = _section(body, "usage")
    return None if usage is None else _anthropic_usage(usage)


def from_gemini(body: object) -> TokenUsage | None:
    """Usage of a Gemini GenerateContentResponse; None if it has none (an error body)."""
    usage = _section(body, "usageMetadata")
    return None if usage is None else _gemini_usage(usage)


def from_openai_embeddings(body: object) -> TokenUsage | None:
    """Usage of an OpenAI embeddings response; None if it has none."""
    usage = _section(body, "usage")
    return None if usage is None else _openai_embeddings_usage(usage)


# ---- streams -------------------------------------------------------------------


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
                carried = _section(message_event.get("message"), "usage")
                fields: dict[str, object] = {}
            elif kind == "message_delta":
                carried = _section(message_event, "usage")
                fields = dict(self._fields)
            else:
                return
            if carried is None:
                return
            fields.update((key, value) for key, value in carried.items() if value is not None)
            usage = _anthropic_usage(fields)
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
