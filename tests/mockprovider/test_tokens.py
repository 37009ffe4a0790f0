"""The token heuristic every reported usage number comes from."""

from __future__ import annotations

from services.mockprovider.tokens import (
    MESSAGE_OVERHEAD,
    REASONING_TOKENS,
    OutputPlan,
    cached_portion,
    embedding_tokens,
    plan_output,
    prompt_tokens,
    text_tokens,
)


def test_text_tokens_are_utf8_bytes_over_four_rounded_up() -> None:
    assert text_tokens("") == 0
    assert text_tokens("abcd") == 1
    assert text_tokens("abcde") == 2
    assert text_tokens("é") == 1  # two bytes
    assert text_tokens("日本語") == 3  # nine bytes


def test_prompt_tokens_add_an_overhead_per_segment() -> None:
    assert prompt_tokens([]) == 0
    assert prompt_tokens(["Say hello"]) == MESSAGE_OVERHEAD + 3
    assert prompt_tokens(["", "abcd"]) == 2 * MESSAGE_OVERHEAD + 1


def test_embedding_tokens_count_text_and_token_ids() -> None:
    assert embedding_tokens(["abcdefgh", [1, 2, 3]]) == 2 + 3


def test_cached_portion_is_half() -> None:
    assert cached_portion(41) == 20


def test_plan_without_cap() -> None:
    assert plan_output(8, None, reasoning=False) == OutputPlan(
        pieces=8, reasoning_tokens=0, truncated=False
    )
    plan = plan_output(8, None, reasoning=True)
    assert plan.output_tokens == 8 + REASONING_TOKENS


def test_cap_limits_reasoning_plus_visible_output() -> None:
    assert plan_output(8, 3, reasoning=False) == OutputPlan(
        pieces=3, reasoning_tokens=0, truncated=True
    )
    assert plan_output(8, REASONING_TOKENS + 2, reasoning=True) == OutputPlan(
        pieces=2, reasoning_tokens=REASONING_TOKENS, truncated=True
    )
    assert plan_output(8, 5, reasoning=True) == OutputPlan(
        pieces=0, reasoning_tokens=5, truncated=True
    )
    assert not plan_output(8, 8, reasoning=False).truncated
