"""Every path the mock answers, with the route names `/mock/stats` counts by."""

from __future__ import annotations

from aiohttp import web

from services.mockprovider import anthropic, gemini, models, observe, openai, outage


def setup_routes(app: web.Application) -> None:
    add = app.router
    add.add_post("/v1/chat/completions", openai.chat_completions, name="openai.chat")
    add.add_post("/v1/responses", openai.responses, name="openai.responses")
    add.add_post("/v1/embeddings", openai.create_embeddings, name="openai.embeddings")
    # shared by OpenAI, Anthropic and Gemini (its SDK defaults to v1): see errors.provider_for
    add.add_get("/v1/models", models.list_models, name="models.list")
    add.add_get("/v1/models/{target}", models.get_model, name="models.get")
    add.add_post("/v1/models/{target}", gemini.generate, name="gemini.generate.v1")
    add.add_post("/v1/messages", anthropic.messages, name="anthropic.messages")
    add.add_post("/v1/messages/count_tokens", anthropic.count_tokens, name="anthropic.count_tokens")
    add.add_get("/v1beta/models", models.list_models, name="gemini.models.list")
    add.add_get("/v1beta/models/{target}", models.get_model, name="gemini.models.get")
    add.add_post("/v1beta/models/{target}", gemini.generate, name="gemini.generate")
    add.add_get("/healthz", observe.healthz, name="healthz")
    add.add_get("/mock/stats", observe.get_stats, name="mock.stats")
    add.add_delete("/mock/stats", observe.clear_stats, name="mock.stats.clear")
    add.add_put("/mock/outage", outage.set_outage, name="mock.outage.set")
    add.add_delete("/mock/outage", outage.clear_outage, name="mock.outage.clear")
    add.add_route("*", "/mock/redirect/{tail:.*}", outage.redirect, name="mock.redirect")
