"""OpenAI handlers: chat completions, responses, embeddings, models.

Thin: admit (credential, body, controls), build the `Completion`, render with
`chat_wire` / `responses_wire` / `embeddings`, hand the bytes or frames to
`streaming`. The model list lives in `models`.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from services.mockprovider import chat_wire, embeddings, fields, intake, prompts, responses_wire
from services.mockprovider.catalog import Provider
from services.mockprovider.errors import BadRequest
from services.mockprovider.streaming import send_body, send_stream

SSE = "text/event-stream; charset=utf-8"


async def chat_completions(request: web.Request) -> web.StreamResponse:
    call = await intake.admit(request, Provider.OPENAI)
    if (recorded := await intake.replay(request, call.behaviour)) is not None:
        return recorded
    completion = intake.complete(call, Provider.OPENAI, prompts.from_openai_chat)
    created = int(time.time())
    if fields.flag(call.body, "stream"):
        include_usage = fields.obj(call.body, "stream_options").get("include_usage") is True
        frames = chat_wire.frames(completion, created=created, include_usage=include_usage)
        return await send_stream(request, frames, behaviour=call.behaviour, content_type=SSE)
    payload = orjson.dumps(chat_wire.body(completion, created=created))
    return await send_body(
        request, payload, behaviour=call.behaviour, pieces=completion.piece_count
    )


async def responses(request: web.Request) -> web.StreamResponse:
    call = await intake.admit(request, Provider.OPENAI)
    if (recorded := await intake.replay(request, call.behaviour)) is not None:
        return recorded
    completion = intake.complete(call, Provider.OPENAI, prompts.from_openai_responses)
    created = int(time.time())
    if fields.flag(call.body, "stream"):
        frames = responses_wire.frames(completion, call.body, created_at=created)
        return await send_stream(request, frames, behaviour=call.behaviour, content_type=SSE)
    payload = orjson.dumps(responses_wire.body(completion, call.body, created_at=created))
    return await send_body(
        request, payload, behaviour=call.behaviour, pieces=completion.piece_count
    )


async def create_embeddings(request: web.Request) -> web.StreamResponse:
    call = await intake.admit(request, Provider.OPENAI)
    if (recorded := await intake.replay(request, call.behaviour)) is not None:
        return recorded
    model = intake.model_for(Provider.OPENAI, call.model_name, kind="embedding")
    dimensions = fields.count(call.body, "dimensions")
    if dimensions is not None and not 1 <= dimensions <= model.dimensions:
        raise BadRequest(f"dimensions: must be between 1 and {model.dimensions}")
    payload = embeddings.body(
        call.model_name,
        embeddings.inputs(call.body.get("input")),
        dimensions=dimensions or model.dimensions,
        encoding_format=fields.string(call.body, "encoding_format") or "float",
    )
    return await send_body(request, orjson.dumps(payload), behaviour=call.behaviour, pieces=1)
