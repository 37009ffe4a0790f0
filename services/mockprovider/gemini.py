"""Gemini handlers: generateContent, streamGenerateContent, countTokens.

The model and the method share one path segment (`models/{model}:{method}`);
`generate` splits them at the last colon. `streamGenerateContent` answers SSE
(data-only events, CRLF) as with `alt=sse`, the only framing clients use.
Served under `/v1beta` and `/v1` (google-genai's default). Errors go back as
`{"error": {code, message, status}}` (see `errors`); the model list lives in
`models`.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from services.mockprovider import gemini_wire, intake, prompts, tokens
from services.mockprovider.catalog import Provider
from services.mockprovider.errors import NotFound
from services.mockprovider.streaming import send_body, send_stream

SSE = "text/event-stream"
_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


def _target(request: web.Request) -> tuple[str, str]:
    target = request.match_info["target"].removeprefix("models/")
    model, colon, method = target.rpartition(":")
    if not colon or method not in _METHODS:
        raise NotFound(f"Method {method or target!r} is not found for API version v1beta.")
    return model, method


async def generate(request: web.Request) -> web.StreamResponse:
    model_name, method = _target(request)
    call = await intake.admit(request, Provider.GEMINI, path_model=model_name)
    if (recorded := await intake.replay(request, call.behaviour)) is not None:
        return recorded
    if method == "countTokens":
        intake.model_for(Provider.GEMINI, call.model_name)
        payload = gemini_wire.count_tokens_body(
            tokens.prompt_tokens(prompts.from_gemini(call.body).segments)
        )
        return await send_body(request, orjson.dumps(payload), behaviour=call.behaviour, pieces=0)
    completion = intake.complete(call, Provider.GEMINI, prompts.from_gemini)
    arguments = completion.call_arguments()
    if method == "streamGenerateContent":
        frames = gemini_wire.frames(completion, arguments)
        return await send_stream(request, frames, behaviour=call.behaviour, content_type=SSE)
    return await send_body(
        request,
        orjson.dumps(gemini_wire.body(completion, arguments)),
        behaviour=call.behaviour,
        pieces=completion.piece_count,
        content_type="application/json; charset=UTF-8",
    )
