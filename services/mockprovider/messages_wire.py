"""Anthropic Messages bodies and stream events for a `Completion`.

Copied from recorded responses (`fixtures/wire/anthropic_messages/`).
`input_tokens` excludes cache reads and writes. A stream is message_start
(usage with input and cache counts, `output_tokens: 1` as a placeholder),
content_block_start, ping, content_block_delta (`text_delta`, or for a tool
`input_json_delta` starting with an empty `partial_json`), content_block_stop,
message_delta (cumulative usage: every field replaces message_start's),
message_stop.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from services.mockprovider import sse
from services.mockprovider.catalog import Model
from services.mockprovider.fields import Json
from services.mockprovider.generation import Completion, Usage
from services.mockprovider.sse import Frame, Part


def usage(counts: Usage, *, output_tokens: int) -> Json:
    return {
        "input_tokens": counts.prompt_tokens - counts.cache_read_tokens - counts.cache_write_tokens,
        "cache_creation_input_tokens": counts.cache_write_tokens,
        "cache_read_input_tokens": counts.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": counts.cache_write_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def stop_reason(completion: Completion) -> str:
    if completion.truncated:
        return "max_tokens"
    return "tool_use" if completion.tool_call is not None else "end_turn"


def _tool_block(completion: Completion, tool_input: Json) -> Json:
    name = completion.tool_call.name if completion.tool_call is not None else ""
    return {
        "type": "tool_use",
        "id": "toolu_01" + completion.ident("toolu", 22),
        "name": name,
        "input": tool_input,
    }


def _message(completion: Completion, content: list[Json], *, final: bool) -> Json:
    output = completion.usage.output_tokens if final else 1
    return {
        "model": completion.model,
        "id": "msg_01" + completion.ident("message", 22),
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop_reason(completion) if final else None,
        "stop_sequence": None,
        "usage": usage(completion.usage, output_tokens=output),
    }


def body(completion: Completion, tool_input: Json) -> Json:
    """`tool_input` is the parsed arguments (`{}` when the cap cut them short)."""
    if completion.tool_call is not None:
        content = [_tool_block(completion, tool_input)]
    else:
        content = [{"type": "text", "text": completion.text}]
    return _message(completion, content, final=True)


def frames(completion: Completion) -> Iterator[Frame]:
    yield sse.event(
        "message_start",
        {"type": "message_start", "message": _message(completion, [], final=False)},
        Part.PREAMBLE,
    )
    call = completion.tool_call
    block = _tool_block(completion, {}) if call is not None else {"type": "text", "text": ""}
    yield _block_event("content_block_start", {"content_block": block}, Part.PREAMBLE)
    yield sse.event("ping", {"type": "ping"}, Part.PREAMBLE)
    if call is not None:
        opening = {"type": "input_json_delta", "partial_json": ""}
        yield _block_event("content_block_delta", {"delta": opening}, Part.PREAMBLE)
        for piece in call.pieces:
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield _block_event("content_block_delta", {"delta": delta}, Part.CONTENT)
    else:
        for piece in completion.text_pieces:
            delta = {"type": "text_delta", "text": piece}
            yield _block_event("content_block_delta", {"delta": delta}, Part.CONTENT)
    yield _block_event("content_block_stop", {}, Part.TRAILER)
    final = usage(completion.usage, output_tokens=completion.usage.output_tokens)
    del final["cache_creation"], final["service_tier"]  # message_delta carries only the counts
    yield sse.event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(completion), "stop_sequence": None},
            "usage": final,
        },
        Part.TRAILER,
    )
    yield sse.event("message_stop", {"type": "message_stop"}, Part.TRAILER)


def _block_event(name: str, payload: Json, part: Part) -> Frame:
    return sse.event(name, {"type": name, "index": 0, **payload}, part)


def count_tokens_body(prompt_tokens: int) -> Json:
    return {"input_tokens": prompt_tokens}


def model_entry(model: Model) -> Json:
    created = datetime.datetime.fromtimestamp(model.created, datetime.UTC)
    return {
        "type": "model",
        "id": model.name,
        "display_name": model.display_name,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def model_list(models: tuple[Model, ...]) -> Json:
    entries = [model_entry(model) for model in models]
    return {
        "data": entries,
        "has_more": False,
        "first_id": entries[0]["id"] if entries else None,
        "last_id": entries[-1]["id"] if entries else None,
    }
