"""Estimated usage for answers that came without any, and the worst case a hold covers."""

from __future__ import annotations

import pytest

from services.gateway.metering.estimate import BYTES_PER_TOKEN, cut_short, estimate, tokens_for
from services.gateway.metering.provider_usage import TokenUsage
from services.gateway.relay.apis import Api


@pytest.mark.parametrize(
    ("byte_count", "tokens"), [(0, 0), (1, 1), (3, 1), (4, 1), (5, 2), (8, 2), (4001, 1001)]
)
def test_a_token_is_four_bytes_rounded_up(byte_count: int, tokens: int) -> None:
    assert BYTES_PER_TOKEN == 4
    assert tokens_for(byte_count) == tokens


def test_negative_byte_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        tokens_for(-1)
    with pytest.raises(ValueError, match="negative"):
        estimate(Api.OPENAI_CHAT, prompt_bytes=10, output_bytes=-4)


@pytest.mark.parametrize(
    "api",
    [
        Api.OPENAI_CHAT,
        Api.OPENAI_RESPONSES,
        Api.ANTHROPIC_MESSAGES,
        Api.GEMINI_GENERATE,
        Api.GEMINI_STREAM,
    ],
)
def test_generation_apis_estimate_input_and_delivered_output(api: Api) -> None:
    usage = estimate(api, prompt_bytes=1001, output_bytes=399)
    assert usage == TokenUsage(input_tokens=251, output_tokens=100)
    assert (usage.cache_read_tokens, usage.cache_write_tokens, usage.reasoning_tokens) == (0, 0, 0)


def test_nothing_delivered_bills_the_input_only() -> None:
    usage = estimate(Api.ANTHROPIC_MESSAGES, prompt_bytes=40, output_bytes=0)
    assert usage == TokenUsage(input_tokens=10)


def test_embeddings_have_no_output_tokens() -> None:
    usage = estimate(Api.OPENAI_EMBEDDINGS, prompt_bytes=80, output_bytes=50_000)
    assert usage == TokenUsage(input_tokens=20)


@pytest.mark.parametrize("api", [Api.ANTHROPIC_COUNT_TOKENS, Api.GEMINI_COUNT_TOKENS])
def test_token_counting_is_free(api: Api) -> None:
    assert estimate(api, prompt_bytes=4000, output_bytes=30) == TokenUsage()


# ---- calls cut short -----------------------------------------------------------


def test_cut_short_without_provider_counts_is_the_estimate() -> None:
    estimated = estimate(Api.OPENAI_CHAT, prompt_bytes=400, output_bytes=650)

    assert cut_short(estimated, None) == TokenUsage(input_tokens=100, output_tokens=163)


def test_cut_short_takes_the_providers_input_and_the_delivered_output() -> None:
    estimated = estimate(Api.ANTHROPIC_MESSAGES, prompt_bytes=400, output_bytes=650)
    reported = TokenUsage(input_tokens=17, cache_read_tokens=300, cache_write_tokens=20)

    assert cut_short(estimated, reported) == TokenUsage(
        input_tokens=17, cache_read_tokens=300, cache_write_tokens=20, output_tokens=163
    )


def test_cut_short_never_bills_less_output_than_the_provider_already_counted() -> None:
    # Gemini counts thinking it streamed only as summaries: its count so far stands.
    estimated = estimate(Api.GEMINI_STREAM, prompt_bytes=400, output_bytes=400)
    reported = TokenUsage(input_tokens=30, output_tokens=755, reasoning_tokens=755)

    assert cut_short(estimated, reported) == reported


def test_cut_short_with_provider_counts_but_no_input_estimates_the_input() -> None:
    estimated = estimate(Api.GEMINI_STREAM, prompt_bytes=400, output_bytes=40)

    assert cut_short(estimated, TokenUsage(output_tokens=3)) == TokenUsage(
        input_tokens=100, output_tokens=10
    )
