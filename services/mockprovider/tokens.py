"""Token arithmetic: the one documented heuristic every usage number comes from.

    text_tokens(text)        = ceil(len(text.encode("utf-8")) / 4)
    prompt_tokens(segments)  = sum(MESSAGE_OVERHEAD + text_tokens(s) for s in segments)
    embedding_tokens(inputs) = sum(text_tokens(s)) for text, len(ids) for token ids
    cached_portion(prompt)   = prompt // 2        (reported only with cache=read|write)
    output tokens            = pieces emitted, plus REASONING_TOKENS on reasoning
                               models; an output cap (max_tokens...) limits the sum

A prompt's segments are listed by `prompts`: the system text, each message's
text, each tool. Tests recompute every reported count with these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MESSAGE_OVERHEAD = 3
REASONING_TOKENS = 32


def text_tokens(text: str) -> int:
    return (len(text.encode("utf-8")) + 3) // 4


def prompt_tokens(segments: Iterable[str]) -> int:
    return sum(MESSAGE_OVERHEAD + text_tokens(segment) for segment in segments)


def embedding_tokens(inputs: Iterable[str | list[int]]) -> int:
    return sum(text_tokens(item) if isinstance(item, str) else len(item) for item in inputs)


def cached_portion(prompt: int) -> int:
    return prompt // 2


@dataclass(frozen=True, kw_only=True)
class OutputPlan:
    """How many pieces are emitted and how many hidden reasoning tokens precede them."""

    pieces: int
    reasoning_tokens: int
    truncated: bool

    @property
    def output_tokens(self) -> int:
        return self.pieces + self.reasoning_tokens


def plan_output(available: int, limit: int | None, *, reasoning: bool) -> OutputPlan:
    """`available` pieces wanted; `limit` caps reasoning plus visible output."""
    thinking = REASONING_TOKENS if reasoning else 0
    if limit is None:
        return OutputPlan(pieces=available, reasoning_tokens=thinking, truncated=False)
    thinking = min(thinking, limit)
    pieces = min(available, limit - thinking)
    return OutputPlan(pieces=pieces, reasoning_tokens=thinking, truncated=pieces < available)
