"""The client APIs the relay serves, and the wire family each belongs to.

One table: an API's family (its channel kind and error format) and the name
of its stream's usage tracker. What each API's body holds is `wire`'s.
"""

from __future__ import annotations

from enum import StrEnum


class Family(StrEnum):
    """A provider's wire family: the channel kind it reaches and its error format."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class Api(StrEnum):
    """One client-facing endpoint the relay serves (DESIGN.md §3)."""

    OPENAI_CHAT = "openai_chat"
    OPENAI_RESPONSES = "openai_responses"
    OPENAI_EMBEDDINGS = "openai_embeddings"
    ANTHROPIC_MESSAGES = "anthropic_messages"
    ANTHROPIC_COUNT_TOKENS = "anthropic_count_tokens"
    GEMINI_GENERATE = "gemini_generate"
    GEMINI_STREAM = "gemini_stream"
    GEMINI_COUNT_TOKENS = "gemini_count_tokens"

    @property
    def family(self) -> Family:
        return _FAMILIES[self]

    @property
    def tracker_name(self) -> str | None:
        """The `stream_usage.tracker_for()` name of this API's streams; None if it never streams.

        GEMINI_GENERATE streams too when its URL asks for `alt=sse`.
        """
        return _TRACKER_NAMES.get(self)


_FAMILIES = {
    Api.OPENAI_CHAT: Family.OPENAI,
    Api.OPENAI_RESPONSES: Family.OPENAI,
    Api.OPENAI_EMBEDDINGS: Family.OPENAI,
    Api.ANTHROPIC_MESSAGES: Family.ANTHROPIC,
    Api.ANTHROPIC_COUNT_TOKENS: Family.ANTHROPIC,
    Api.GEMINI_GENERATE: Family.GEMINI,
    Api.GEMINI_STREAM: Family.GEMINI,
    Api.GEMINI_COUNT_TOKENS: Family.GEMINI,
}
_TRACKER_NAMES = {
    Api.OPENAI_CHAT: "openai_chat",
    Api.OPENAI_RESPONSES: "openai_responses",
    Api.ANTHROPIC_MESSAGES: "anthropic_messages",
    Api.GEMINI_GENERATE: "gemini",
    Api.GEMINI_STREAM: "gemini",
}
