"""The mock provider's streams built without a server, as the gateway parses them.

For tests that measure a stream's delivered content (`delivered`, the stream
forwarder): a completion of N one-word text pieces, and its stream in one
API's wire format, parsed into SSE events. The words come from
`text_pieces(digest, n)`: a digest fixes them.
"""

from __future__ import annotations

from services.gateway.relay.sse import SseEvent, SseParser
from services.mockprovider import chat_wire, messages_wire, responses_wire
from services.mockprovider.generation import Completion, Usage, text_pieces


def text_completion(model: str, pieces: int, digest: str) -> Completion:
    """`pieces` one-word text pieces; 10 input tokens, one output token a piece."""
    return Completion(
        digest=digest,
        model=model,
        text_pieces=text_pieces(digest, pieces),
        tool_call=None,
        usage=Usage(
            prompt_tokens=10,
            cache_read_tokens=0,
            cache_write_tokens=0,
            output_tokens=pieces,
            reasoning_tokens=0,
        ),
        truncated=False,
    )


def stream_events(api: str, completion: Completion) -> list[SseEvent]:
    """`completion` streamed as the mock provider streams it for `api`
    (`openai_chat` with usage included, `openai_responses`, else Anthropic Messages)."""
    if api == "openai_chat":
        frames = chat_wire.frames(completion, created=0, include_usage=True)
    elif api == "openai_responses":
        frames = responses_wire.frames(completion, {}, created_at=0)
    else:
        frames = messages_wire.frames(completion)
    parser = SseParser()
    return parser.feed(b"".join(frame.data for frame in frames)) + parser.close()
