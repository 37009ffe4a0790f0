"""Anthropic handlers: messages (streaming or not) and count_tokens.

Thin: admit (credential, `anthropic-version`, body, controls), build the
`Completion`, render with `messages_wire`, hand it to `streaming`. Errors go
back as `{"type": "error", "error": {type, message}}` (see `errors`).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from services.mockprovider import fields, intake, messages_wire, prompts, tokens
from services.mockprovider.catalog import Provider
from services.mockprovider.fields import Json
from services.mockprovider.prompts import Prompt
from services.mockprovider.streaming import send_body, send_stream

SSE = "text/event-stream; charset=utf-8"


def _headers() -> dict[str, str]:
    return {"anthropic-organization-id": "00000000-0000-0000-0000-000000000000"}


def _messages_prompt(body: Json) -> Prompt:
    fields.count(body, "max_tokens", required=True)  # the real API requires it too
    return prompts.from_anthropic(body)


async def messages(request: web.Request) -> web.StreamResponse:
    call = await intake.admit(request, Provider.ANTHROPIC)
    if (recorded := await intake.replay(request, call.behaviour)) is not None:
        return recorded
    completion = intake.complete(call, Provider.ANTHROPIC, _messages_prompt)
    if fields.flag(call.body, "stream"):
        return await send_stream(
            request,
            messages_wire.frames(completion),
            behaviour=call.behaviour,
            content_type=SSE,
            headers=_headers(),
        )
    payload = orjson.dumps(messages_wire.body(completion, completion.call_arguments()))
    return await send_body(
        request,
        payload,
        behaviour=call.behaviour,
        pieces=completion.piece_count,
        headers=_headers(),
    )


async def count_tokens(request: web.Request) -> web.StreamResponse:
    call = await intake.admit(request, Provider.ANTHROPIC)
    if (recorded := await intake.replay(request, call.behaviour)) is not None:
        return recorded
    intake.model_for(Provider.ANTHROPIC, call.model_name)
    prompt = prompts.from_anthropic(call.body)
    payload = messages_wire.count_tokens_body(tokens.prompt_tokens(prompt.segments))
    return await send_body(request, orjson.dumps(payload), behaviour=call.behaviour, pieces=0)
