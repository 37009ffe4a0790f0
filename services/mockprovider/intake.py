"""What every provider handler does first, in this order.

1. Credential: the provider's own header (OpenAI `Authorization: Bearer`;
   Anthropic `x-api-key`, or `Authorization: Bearer` as its SDK's `auth_token`
   sends; Gemini `x-goog-api-key` or `?key=`), any non-empty value; else 401
   (also while an outage refuses every key: see `outage`).
2. Anthropic only: an `anthropic-version` header, any value (the SDK always
   sends one); else 400.
3. The JSON body (POST), the model (body field or URL path), the controls
   (`behaviour`) from an instance outage, headers and the model suffix.
4. An injected `X-Mock-Status` is raised here, before any byte is written.
5. A fixture replay, when asked for, answers instead of the handler.
Keys are checked for presence only and are never stored or logged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from services.mockprovider import behaviour as controls
from services.mockprovider import catalog, fields, generation
from services.mockprovider.behaviour import Behaviour
from services.mockprovider.catalog import Model, Provider
from services.mockprovider.errors import BadRequest, MockError, NotFound, Unauthenticated
from services.mockprovider.fields import Json
from services.mockprovider.generation import Completion
from services.mockprovider.keys import FIXTURES
from services.mockprovider.outage import OUTAGE
from services.mockprovider.prompts import PromptReader
from services.mockprovider.sse import Frame, Part, split_events
from services.mockprovider.streaming import send_body, send_stream

RETRY_AFTER_SECONDS = 1

_MISSING_KEY = {
    Provider.OPENAI: (
        "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
    ),
    Provider.ANTHROPIC: "x-api-key header is required",
    Provider.GEMINI: (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API."
    ),
}


_REFUSED_KEY = {
    Provider.OPENAI: "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    Provider.ANTHROPIC: "invalid x-api-key",
    Provider.GEMINI: "API key not valid. Please pass a valid API key.",
}


@dataclass(frozen=True, kw_only=True)
class Call:
    body: Json
    model_name: str  # the requested name, control suffix stripped
    behaviour: Behaviour


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def authenticate(request: web.Request, provider: Provider) -> None:
    if provider is Provider.OPENAI:
        present = _bearer(request)
    elif provider is Provider.ANTHROPIC:
        present = request.headers.get("x-api-key", "").strip() or _bearer(request)
    else:
        present = request.headers.get("x-goog-api-key", "").strip() or request.query.get("key", "")
    if not present:
        raise Unauthenticated(_MISSING_KEY[provider])
    if request.app[OUTAGE].refuse_keys:
        raise Unauthenticated(_REFUSED_KEY[provider])
    if provider is Provider.ANTHROPIC and not request.headers.get("anthropic-version"):
        raise BadRequest("anthropic-version: header is required")


def inject_status(behaviour: Behaviour) -> None:
    if behaviour.status is None:
        return
    retry_after = RETRY_AFTER_SECONDS if behaviour.status == 429 else None
    raise MockError(
        behaviour.status,
        f"Injected failure: X-Mock-Status {behaviour.status}.",
        retry_after=retry_after,
    )


async def admit(request: web.Request, provider: Provider, *, path_model: str | None = None) -> Call:
    authenticate(request, provider)
    body = fields.json_object(await request.read())
    requested = path_model if path_model is not None else fields.required_string(body, "model")
    name, suffix = controls.split_model(requested)
    behaviour = controls.parse(request.headers, _with_outage(request, suffix))
    inject_status(behaviour)
    return Call(body=body, model_name=name, behaviour=behaviour)


def admit_read(request: web.Request, provider: Provider) -> Behaviour:
    """For GET endpoints: credential and header controls only."""
    authenticate(request, provider)
    behaviour = controls.parse(request.headers, _with_outage(request, None))
    inject_status(behaviour)
    return behaviour


def _with_outage(request: web.Request, suffix: str | None) -> str | None:
    """The instance's outage controls, then the request's own (which win)."""
    outage = request.app[OUTAGE].controls
    if outage is None:
        return suffix
    return outage if suffix is None else f"{outage},{suffix}"


def model_for(provider: Provider, name: str, *, kind: str = "chat") -> Model:
    model = catalog.find(provider, name)
    if model is None:
        raise NotFound(_unknown_model(provider, name), code="model_not_found")
    if model.kind != kind:
        raise BadRequest(f"The model `{name}` does not support this endpoint.")
    return model


def complete(call: Call, provider: Provider, read_prompt: PromptReader) -> Completion:
    """The model is checked before the body's shape, as the real APIs do."""
    model = model_for(provider, call.model_name)
    prompt = read_prompt(call.body)
    digest = generation.request_digest(call.body, call.model_name)
    return generation.generate(prompt, model=model, behaviour=call.behaviour, digest=digest)


def _unknown_model(provider: Provider, name: str) -> str:
    if provider is Provider.ANTHROPIC:
        return f"model: {name}"
    if provider is Provider.GEMINI:
        return (
            f"models/{name} is not found for API version v1beta, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their "
            "supported methods."
        )
    return f"The model `{name}` does not exist or you do not have access to it."


async def replay(request: web.Request, behaviour: Behaviour) -> web.StreamResponse | None:
    """The recorded fixture the request names, byte for byte; None if it names none."""
    if behaviour.fixture is None:
        return None
    recording = await asyncio.to_thread(request.app[FIXTURES].load, behaviour.fixture)
    if recording.is_sse:
        frames = (Frame(chunk, Part.CONTENT) for chunk in split_events(recording.body))
        return await send_stream(
            request,
            frames,
            behaviour=behaviour,
            content_type=recording.content_type,
            status=recording.status,
        )
    return await send_body(
        request,
        recording.body,
        behaviour=behaviour,
        pieces=1,
        content_type=recording.content_type,
        status=recording.status,
    )
