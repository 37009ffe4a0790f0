"""Probing a channel: one tiny request, and what came of it.

Used by `POST /api/admin/channels/{id}/test` and by the background check that
re-enables a channel once its upstream accepts its key again. The request is
the smallest real call of the channel's kind for one of its models (a chat
message of one word; an embedding of one word for an embedding model), sent
through the same attempt code as relayed traffic: the same URL guard,
timeouts and headers. Nobody is billed for it; the upstream may charge the
operator a few tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from services.gateway.channels.choice import Channel, Timeouts
from services.gateway.relay import wire
from services.gateway.relay.apis import Api, Family
from services.gateway.relay.attempt import StreamAnswer, UpstreamFailure, attempt
from services.gateway.upstream.client import UpstreamClient

PROMPT = "Reply with one word: ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    ok: bool
    status: int | None
    latency_ms: float
    model: str
    error: str | None = None
    error_kind: str | None = None

    def public(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "model": self.model,
            "error": self.error,
            "error_kind": self.error_kind,
        }


def probe_request(channel: Channel, model: str) -> tuple[Api, bytes, str]:
    """The API, body and client path of the probe for `model` on this channel."""
    if channel.kind is Family.ANTHROPIC:
        body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": PROMPT}]}
        return Api.ANTHROPIC_MESSAGES, orjson.dumps(body), "/v1/messages"
    if channel.kind is Family.GEMINI:
        gemini = {
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": {"maxOutputTokens": 16},
        }
        return Api.GEMINI_GENERATE, orjson.dumps(gemini), f"/v1beta/models/{model}:generateContent"
    if "embedding" in model:
        return (
            Api.OPENAI_EMBEDDINGS,
            orjson.dumps({"model": model, "input": "ok"}),
            "/v1/embeddings",
        )
    chat = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    return Api.OPENAI_CHAT, orjson.dumps(chat), "/v1/chat/completions"


async def probe(
    client: UpstreamClient, channel: Channel, model: str, defaults: Timeouts
) -> ProbeResult:
    api, body, path = probe_request(channel, model)
    inspected = wire.inspect(api, body, path_model=model if api.family is Family.GEMINI else None)
    headers = {"anthropic-version": "2023-06-01"} if api.family is Family.ANTHROPIC else {}
    started = time.perf_counter()
    try:
        answer = await attempt(
            client,
            channel,
            api,
            inspected,
            model=model,
            path=path,
            client_headers=headers,
            timeouts=channel.timeouts(defaults),
        )
    except UpstreamFailure as failure:
        return ProbeResult(
            ok=False,
            status=failure.upstream_status,
            latency_ms=_since(started),
            model=model,
            error=failure.message,
            error_kind=failure.kind.value,
        )
    if isinstance(answer, StreamAnswer):  # not asked for; do not keep it open
        answer.response.close()
        status = answer.response.status
    else:
        status = answer.status
    return ProbeResult(ok=True, status=status, latency_ms=_since(started), model=model)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
