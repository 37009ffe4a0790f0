"""Token counts when the upstream reports none (and the prompt's count a hold covers).

An answer is never relayed unmetered (DESIGN.md §2.4): when a provider's
response carries no usage (a stream cut before its usage chunk, a proxy that
strips it, a client gone mid-stream), the gateway estimates it and marks the
usage event as estimated. Rules this module keeps:

- One documented method, the same for every API: a token is 4 bytes, rounded
  up. Four bytes per token is the common rule of thumb for English text with
  BPE tokenizers (OpenAI's and Google's docs quote about four characters
  per token of English). It over-counts code and base64 (more bytes per
  token), and under-counts CJK and other scripts of 3-byte UTF-8 characters
  (often a token per character). No tokenizer runs on the hot path.
- Input is the client's request body as received (`prompt_bytes`), JSON
  syntax included, which leans towards over-counting (the hold counts the
  prompt the same way); output is only the content the client was sent
  (`output_bytes`: text, tool arguments, reasoning, measured by `delivered`,
  never the events' JSON). Nothing is counted as cache reads, cache writes or
  reasoning: only the provider knows those.
- A call cut short (DESIGN.md §6: input plus delivered output) is billed by
  `cut_short`: the input and cache counts the provider reported before the
  cut where it reported any (Anthropic's `message_start`, Gemini's running
  `usageMetadata`), else the estimated input; the output estimated from what
  was delivered, never less than an output count the provider had already
  reported for streamed content. A request that reached the upstream and
  delivered nothing is billed its input (`output_bytes=0`).
- APIs that produce no output tokens (embeddings) estimate input only; the
  token-counting endpoints are free and estimate to zero.
- No IO.
"""

from __future__ import annotations

from services.gateway.metering.provider_usage import TokenUsage
from services.gateway.relay.apis import Api

BYTES_PER_TOKEN = 4

_INPUT_ONLY = frozenset({Api.OPENAI_EMBEDDINGS})
_FREE = frozenset({Api.ANTHROPIC_COUNT_TOKENS, Api.GEMINI_COUNT_TOKENS})


def tokens_for(byte_count: int) -> int:
    """Estimated tokens in `byte_count` bytes of text: a quarter, rounded up."""
    if byte_count < 0:
        raise ValueError(f"byte count must not be negative: {byte_count}")
    return -(-byte_count // BYTES_PER_TOKEN)


def estimate(api: Api, *, prompt_bytes: int, output_bytes: int) -> TokenUsage:
    """Usage of one answer that came without any, by the method in the module docstring."""
    input_tokens = tokens_for(prompt_bytes)
    output_tokens = tokens_for(output_bytes)
    if api in _FREE:
        return TokenUsage()
    if api in _INPUT_ONLY:
        return TokenUsage(input_tokens=input_tokens)
    return TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens)


def cut_short(estimated: TokenUsage, reported: TokenUsage | None) -> TokenUsage:
    """Usage of an answer cut short, by the rule in the module docstring.

    `estimated` is `estimate(...)` of the request and the delivered output;
    `reported` is what the provider reported before its end, or None.
    """
    if reported is None:
        return estimated
    output = max(reported.output_tokens, estimated.output_tokens)
    reported_input = (
        reported.input_tokens + reported.cache_read_tokens + reported.cache_write_tokens
    )
    return TokenUsage(
        # A provider that reported counts but no input at all has not told it yet.
        input_tokens=reported.input_tokens if reported_input else estimated.input_tokens,
        cache_read_tokens=reported.cache_read_tokens,
        cache_write_tokens=reported.cache_write_tokens,
        output_tokens=output,
        reasoning_tokens=min(reported.reasoning_tokens, output),
        web_search_requests=reported.web_search_requests,
    )
