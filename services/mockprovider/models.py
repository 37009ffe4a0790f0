"""Model list and model lookup, in the shape of whichever provider is asking.

`/v1/models` is one path for three APIs; `errors.provider_for` decides from the
path and the credential headers (`x-goog-api-key` or `?key=`: Gemini;
`anthropic-version`: Anthropic; else OpenAI). `/v1beta/models` is Gemini's.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from services.mockprovider import catalog, gemini_wire, intake, messages_wire
from services.mockprovider.catalog import Model, Provider
from services.mockprovider.errors import NotFound, provider_for
from services.mockprovider.fields import Json


def _openai_entry(model: Model) -> Json:
    return {"id": model.name, "object": "model", "created": model.created, "owned_by": "system"}


def _json(body: Json) -> web.Response:
    return web.json_response(body, dumps=lambda value: orjson.dumps(value).decode())


async def list_models(request: web.Request) -> web.Response:
    provider = provider_for(request.path, request.headers, request.query)
    intake.admit_read(request, provider)
    models = catalog.listing(provider)
    if provider is Provider.ANTHROPIC:
        return _json(messages_wire.model_list(models))
    if provider is Provider.GEMINI:
        return _json(gemini_wire.model_list(models))
    return _json({"object": "list", "data": [_openai_entry(model) for model in models]})


async def get_model(request: web.Request) -> web.Response:
    provider = provider_for(request.path, request.headers, request.query)
    intake.admit_read(request, provider)
    name = request.match_info["target"].removeprefix("models/")
    model = catalog.find(provider, name)
    if model is None:
        raise NotFound(_missing(provider, name), code="model_not_found")
    if provider is Provider.ANTHROPIC:
        return _json(messages_wire.model_entry(model))
    if provider is Provider.GEMINI:
        return _json(gemini_wire.model_entry(model))
    return _json(_openai_entry(model))


def _missing(provider: Provider, name: str) -> str:
    if provider is Provider.ANTHROPIC:
        return f"model: {name}"
    if provider is Provider.GEMINI:
        return f"models/{name} is not found for API version v1beta."
    return f"The model '{name}' does not exist"
