"""`GET /v1/models` and `GET /v1beta/models`: the models the calling key may use.

The list comes from the in-memory routing table (models served by an enabled
channel of the client's format, and their aliases), narrowed by the key's
model allowlist, and is rendered in the shape each SDK expects. An Anthropic client is recognised by
its `anthropic-version` header and a Gemini client by its `x-goog-api-key`
header (or `?key=`), since all three may use `/v1/models`.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from services.gateway.app_keys import CHANNEL_CACHE
from services.gateway.relay.apis import Family
from services.gateway.relay.handler import authenticate_key, error_response
from shared.client_input import cap
from shared.errors import ApiError, NotFound

_CREATED = int(time.mktime((2024, 1, 1, 0, 0, 0, 0, 0, 0)))


def _family(request: web.Request) -> Family:
    if request.path.startswith("/v1beta/"):
        return Family.GEMINI
    if "x-goog-api-key" in request.headers or "key" in request.query:
        return Family.GEMINI  # google-genai also speaks /v1
    if "anthropic-version" in request.headers:
        return Family.ANTHROPIC
    return Family.OPENAI


def _openai_model(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": "tollgate"}


def _anthropic_model(model: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model,
        "display_name": model,
        "created_at": "2024-01-01T00:00:00Z",
    }


def _gemini_model(model: str) -> dict[str, Any]:
    return {
        "name": f"models/{model}",
        "displayName": model,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


async def _allowed(request: web.Request, family: Family) -> list[str]:
    principal = await authenticate_key(request)
    models = request.app[CHANNEL_CACHE].table.models(family)
    return [m for m in models if principal.may_use(m)]


async def list_models(request: web.Request) -> web.Response:
    family = _family(request)
    try:
        models = await _allowed(request, family)
    except ApiError as error:
        return error_response(family, error.status, error.message, error.code, error.headers())
    if family is Family.GEMINI:
        return web.json_response({"models": [_gemini_model(m) for m in models]})
    if family is Family.ANTHROPIC:
        data = [_anthropic_model(m) for m in models]
        return web.json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    return web.json_response({"object": "list", "data": [_openai_model(m) for m in models]})


async def get_model(request: web.Request) -> web.Response:
    family = _family(request)
    name = request.match_info["model"].removeprefix("models/")
    try:
        if name not in await _allowed(request, family):
            raise NotFound(f"the model {cap(name)} does not exist or is not available")
    except ApiError as error:
        return error_response(family, error.status, error.message, error.code, error.headers())
    render = {
        Family.GEMINI: _gemini_model,
        Family.ANTHROPIC: _anthropic_model,
        Family.OPENAI: _openai_model,
    }[family]
    return web.json_response(render(name))


async def unknown_route(request: web.Request) -> web.Response:
    """Anything else under `/v1` or `/v1beta`: a 404 the client's SDK can read."""
    family = _family(request)
    return error_response(
        family, 404, f"no route for {cap(request.method, 20)} {cap(request.path)}", "not_found"
    )
