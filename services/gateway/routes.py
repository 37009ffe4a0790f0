"""The gateway's routes: model traffic, the model catalog, channel and alias admin, `/api/*`
(`/api/models`, the catalog for a signed-in person, is the gateway's own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from services.gateway.channels import admin as channel_admin
from services.gateway.channels import alias_admin
from services.gateway.edge import api_proxy, console_proxy, model_choices, system_admin
from services.gateway.relay import handler as relay
from services.gateway.relay import model_catalog
from services.gateway.relay.apis import Api

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_GEMINI_METHODS = {
    "generateContent": Api.GEMINI_GENERATE,
    "streamGenerateContent": Api.GEMINI_STREAM,
    "countTokens": Api.GEMINI_COUNT_TOKENS,
}


def _relay(api: Api) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await relay.handle(request, api)

    return handler


async def _gemini(request: web.Request) -> web.StreamResponse:
    api = _GEMINI_METHODS.get(request.match_info["method"])
    if api is None:
        return await model_catalog.unknown_route(request)
    return await relay.handle(request, api)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/v1/chat/completions", _relay(Api.OPENAI_CHAT))
    router.add_post("/v1/responses", _relay(Api.OPENAI_RESPONSES))
    router.add_post("/v1/embeddings", _relay(Api.OPENAI_EMBEDDINGS))
    router.add_post("/v1/messages", _relay(Api.ANTHROPIC_MESSAGES))
    router.add_post("/v1/messages/count_tokens", _relay(Api.ANTHROPIC_COUNT_TOKENS))
    for version in ("v1beta", "v1"):  # google-genai speaks both
        router.add_post(f"/{version}/models/{{model}}:{{method}}", _gemini)
    router.add_get("/v1/models", model_catalog.list_models)
    router.add_get("/v1/models/{model}", model_catalog.get_model)
    router.add_get("/v1beta/models", model_catalog.list_models)
    router.add_get("/v1beta/models/{model}", model_catalog.get_model)
    router.add_route("*", "/v1/{tail:.*}", model_catalog.unknown_route)
    router.add_route("*", "/v1beta/{tail:.*}", model_catalog.unknown_route)

    router.add_get("/api/admin/channels", channel_admin.list_channels)
    router.add_post("/api/admin/channels", channel_admin.create_channel)
    router.add_get("/api/admin/channels/{channel_id}", channel_admin.get_channel)
    router.add_patch("/api/admin/channels/{channel_id}", channel_admin.update_channel)
    router.add_delete("/api/admin/channels/{channel_id}", channel_admin.delete_channel)
    router.add_post("/api/admin/channels/{channel_id}/test", channel_admin.test_channel)
    router.add_get("/api/admin/model-aliases", alias_admin.list_aliases)
    router.add_put("/api/admin/model-aliases/{alias}", alias_admin.put_alias)
    router.add_delete("/api/admin/model-aliases/{alias}", alias_admin.delete_alias)
    router.add_get("/api/admin/system", system_admin.system)
    router.add_get("/api/models", model_choices.list_model_choices)
    router.add_route("*", "/api/{tail:.*}", api_proxy.forward)
    router.add_get("/.well-known/jwks.json", api_proxy.jwks_document)
    # Last: whatever no route above claims (reserved prefixes stay 404).
    for method in ("GET", "HEAD", "POST"):
        router.add_route(method, "/{tail:.*}", console_proxy.forward)
