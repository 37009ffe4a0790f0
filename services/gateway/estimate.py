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
  syntax included, which leans towards over-counting; output is only the
  content bytes the relay measured as delivered (`output_bytes`). Nothing is
  counted as cache reads, cache writes or reasoning: only the provider knows
  those.
- APIs that produce no output tokens (embeddings) estimate input only; the
  token-counting endpoints are free and estimate to zero.
- No IO.
"""

from __future__ import annotations

from services.gateway.usage import TokenUsage
from services.gateway.wire import Api

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
