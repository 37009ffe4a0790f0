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
- Streams are read by `stream_usage`'s trackers, with these readers.
- No IO.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


def section_of(fields: object, key: str) -> JsonObject | None:
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
    prompt_details = section_of(usage, "prompt_tokens_details") or {}
    completion_details = section_of(usage, "completion_tokens_details") or {}
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
    input_details = section_of(usage, "input_tokens_details") or {}
    output_details = section_of(usage, "output_tokens_details") or {}
    uncached, cached = _split_cached(
        _count(usage, "input_tokens"), _count(input_details, "cached_tokens")
    )
    return TokenUsage(
        input_tokens=uncached,
        cache_read_tokens=cached,
        output_tokens=_count(usage, "output_tokens"),
        reasoning_tokens=_count(output_details, "reasoning_tokens"),
    )


def anthropic_usage(usage: JsonObject) -> TokenUsage:
    server_tool_use = section_of(usage, "server_tool_use") or {}
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
    usage = section_of(body, "usage")
    return None if usage is None else _openai_chat_usage(usage)


def from_openai_responses(body: object) -> TokenUsage | None:
    """Usage of a Responses API response object; None if it has none."""
    usage = section_of(body, "usage")
    return None if usage is None else _openai_responses_usage(usage)


def from_anthropic(body: object) -> TokenUsage | None:
    """Usage of an Anthropic message; None if it has none."""
    usage = section_of(body, "usage")
    return None if usage is None else anthropic_usage(usage)


def from_gemini(body: object) -> TokenUsage | None:
    """Usage of a Gemini GenerateContentResponse; None if it has none (an error body)."""
    usage = section_of(body, "usageMetadata")
    return None if usage is None else _gemini_usage(usage)


def from_openai_embeddings(body: object) -> TokenUsage | None:
    """Usage of an OpenAI embeddings response; None if it has none."""
    usage = section_of(body, "usage")
    return None if usage is None else _openai_embeddings_usage(usage)
