"""OpenAI Responses bodies and stream events for a `Completion`.

Copied from recorded responses (`fixtures/wire/openai_responses/`): every
stream event has an `event:` line and a `sequence_number`; the sequence is
response.created, response.in_progress, then per output item
output_item.added (a message adds content_part.added, output_text.delta...,
output_text.done, content_part.done; a function call adds
function_call_arguments.delta..., .done), output_item.done, and finally
response.completed, or response.incomplete when the output cap cut it short.
Usage is on the final response. Reasoning models get a `reasoning` item first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.mockprovider import sse
from services.mockprovider.fields import Json
from services.mockprovider.generation import Completion, ToolCall, Usage
from services.mockprovider.sse import Frame, Part


def usage(counts: Usage) -> Json:
    return {
        "input_tokens": counts.prompt_tokens,
        "input_tokens_details": {"cached_tokens": counts.cache_read_tokens},
        "output_tokens": counts.output_tokens,
        "output_tokens_details": {"reasoning_tokens": counts.reasoning_tokens},
        "total_tokens": counts.prompt_tokens + counts.output_tokens,
    }


def _status(completion: Completion) -> str:
    return "incomplete" if completion.truncated else "completed"


def _reasoning_item(completion: Completion) -> Json:
    return {"id": "rs_" + completion.ident("reasoning", 48), "type": "reasoning", "summary": []}


def _message_item(completion: Completion, status: str, text: str) -> Json:
    return {
        "id": "msg_" + completion.ident("message", 48),
        "type": "message",
        "status": status,
        "content": [] if status == "in_progress" else [_text_part(text)],
        "role": "assistant",
    }


def _text_part(text: str) -> Json:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _call_item(completion: Completion, call: ToolCall, status: str, arguments: str) -> Json:
    return {
        "id": "fc_" + completion.ident("function_call", 48),
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": "call_" + completion.ident("call"),
        "name": call.name,
    }


def _final_output(completion: Completion) -> list[Json]:
    items = [_reasoning_item(completion)] if completion.usage.reasoning_tokens else []
    status = _status(completion)
    call = completion.tool_call
    if call is not None:
        items.append(_call_item(completion, call, status, call.arguments))
    else:
        items.append(_message_item(completion, status, completion.text))
    return items


def response(
    completion: Completion, request: Json, *, created_at: int, status: str, final: bool
) -> Json:
    """The response object; `final` fills in output and usage."""
    truncated = final and completion.truncated
    return {
        "id": "resp_" + completion.ident("response", 48),
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": completion.model,
        "output": _final_output(completion) if final else [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools", []),
        "top_p": request.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage(completion.usage) if final else None,
        "user": None,
        "metadata": request.get("metadata") or {},
    }


def body(completion: Completion, request: Json, *, created_at: int) -> Json:
    return response(
        completion, request, created_at=created_at, status=_status(completion), final=True
    )


def frames(completion: Completion, request: Json, *, created_at: int) -> Iterator[Frame]:
    for sequence, (name, payload, part) in enumerate(_events(completion, request, created_at)):
        yield sse.event(name, {"type": name, "sequence_number": sequence, **payload}, part)


_Event = tuple[str, dict[str, Any], Part]


def _events(completion: Completion, request: Json, created_at: int) -> Iterator[_Event]:
    opening = response(
        completion, request, created_at=created_at, status="in_progress", final=False
    )
    yield "response.created", {"response": opening}, Part.PREAMBLE
    yield "response.in_progress", {"response": opening}, Part.PREAMBLE
    index = 0
    if completion.usage.reasoning_tokens:
        item = _reasoning_item(completion)
        yield "response.output_item.added", {"output_index": 0, "item": item}, Part.PREAMBLE
        yield "response.output_item.done", {"output_index": 0, "item": item}, Part.PREAMBLE
        index = 1
    if completion.tool_call is not None:
        yield from _call_events(completion, completion.tool_call, index)
    else:
        yield from _message_events(completion, index)
    final = body(completion, request, created_at=created_at)
    name = "response.incomplete" if completion.truncated else "response.completed"
    yield name, {"response": final}, Part.TRAILER


def _message_events(completion: Completion, index: int) -> Iterator[_Event]:
    status = _status(completion)
    item_id = "msg_" + completion.ident("message", 48)
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    added = _message_item(completion, "in_progress", "")
    yield "response.output_item.added", {"output_index": index, "item": added}, Part.PREAMBLE
    yield "response.content_part.added", {**where, "part": _text_part("")}, Part.PREAMBLE
    for piece in completion.text_pieces:
        yield "response.output_text.delta", {**where, "delta": piece, "logprobs": []}, Part.CONTENT
    text = completion.text
    yield "response.output_text.done", {**where, "text": text, "logprobs": []}, Part.TRAILER
    yield "response.content_part.done", {**where, "part": _text_part(text)}, Part.TRAILER
    done = _message_item(completion, status, text)
    yield "response.output_item.done", {"output_index": index, "item": done}, Part.TRAILER


def _call_events(completion: Completion, call: ToolCall, index: int) -> Iterator[_Event]:
    item = _call_item(completion, call, "in_progress", "")
    where = {"item_id": item["id"], "output_index": index}
    yield "response.output_item.added", {"output_index": index, "item": item}, Part.PREAMBLE
    for piece in call.pieces:
        yield "response.function_call_arguments.delta", {**where, "delta": piece}, Part.CONTENT
    arguments = call.arguments
    yield "response.function_call_arguments.done", {**where, "arguments": arguments}, Part.TRAILER
    done = _call_item(completion, call, _status(completion), arguments)
    yield "response.output_item.done", {"output_index": index, "item": done}, Part.TRAILER
