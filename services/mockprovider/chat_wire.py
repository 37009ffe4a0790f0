"""OpenAI Chat Completions bodies and stream chunks for a `Completion`.

Shapes are copied from recorded responses (`fixtures/wire/openai_chat/`). In a
stream, usage comes only in a last chunk with empty `choices`, and only when
the request set `stream_options.include_usage`; then every other chunk carries
`"usage": null`. Without it, chunks have no `usage` key at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.mockprovider import sse
from services.mockprovider.fields import Json
from services.mockprovider.generation import Completion, Usage
from services.mockprovider.sse import Frame, Part


def usage(counts: Usage) -> Json:
    return {
        "prompt_tokens": counts.prompt_tokens,
        "completion_tokens": counts.output_tokens,
        "total_tokens": counts.prompt_tokens + counts.output_tokens,
        "prompt_tokens_details": {"cached_tokens": counts.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": counts.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def finish_reason(completion: Completion) -> str:
    if completion.truncated:
        return "length"
    return "tool_calls" if completion.tool_call is not None else "stop"


def _envelope(completion: Completion, created: int, obj: str) -> Json:
    return {
        "id": "chatcmpl-" + completion.ident("chat", 29),
        "object": obj,
        "created": created,
        "model": completion.model,
    }


def _tail(completion: Completion) -> Json:
    return {"service_tier": "default", "system_fingerprint": "fp_" + completion.ident("fp", 10)}


def body(completion: Completion, *, created: int) -> Json:
    message: Json = {"role": "assistant", "content": completion.text}
    if completion.tool_call is not None:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": "call_" + completion.ident("call"),
                "type": "function",
                "function": {
                    "name": completion.tool_call.name,
                    "arguments": completion.tool_call.arguments,
                },
            }
        ]
    message.update({"refusal": None, "annotations": []})
    return {
        **_envelope(completion, created, "chat.completion"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(completion),
            }
        ],
        "usage": usage(completion.usage),
        **_tail(completion),
    }


def frames(completion: Completion, *, created: int, include_usage: bool) -> Iterator[Frame]:
    head = _envelope(completion, created, "chat.completion.chunk") | _tail(completion)

    def chunk(delta: Json, finish: str | None, part: Part) -> Frame:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        extra: dict[str, Any] = {"usage": None} if include_usage else {}
        return sse.data({**head, "choices": [choice], **extra}, part)

    call = completion.tool_call
    if call is None:
        yield chunk({"role": "assistant", "content": "", "refusal": None}, None, Part.PREAMBLE)
        for piece in completion.text_pieces:
            yield chunk({"content": piece}, None, Part.CONTENT)
    else:
        opening = {
            "index": 0,
            "id": "call_" + completion.ident("call"),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk(
            {"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None},
            None,
            Part.PREAMBLE,
        )
        for piece in call.pieces:
            yield chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                None,
                Part.CONTENT,
            )
    yield chunk({}, finish_reason(completion), Part.TRAILER)
    if include_usage:
        yield sse.data({**head, "choices": [], "usage": usage(completion.usage)}, Part.TRAILER)
    yield Frame(sse.DONE, Part.TRAILER)
