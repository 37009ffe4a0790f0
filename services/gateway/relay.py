"""The relay: `/v1/*` and `/v1beta/*` model traffic, from client to channel and back.

Per request: the API key is resolved to a principal (in-process cache), the
body is read within its limit and inspected (pure), a channel is chosen from
the in-memory table (pure), and the upstream answer is relayed (streamed when
it is a stream). No PostgreSQL on this path. Whatever happens, exactly one
`UsageResult` is recorded, in a `finally` that also runs when the client
hangs up (the handler is cancelled then, which closes the upstream request).
Every failure is answered in the client's own error format.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web

from services.gateway import wire
from services.gateway.api_proxy import client_ip
from services.gateway.channels import Channel, choose
from services.gateway.client_errors import error_body, safe_message
from services.gateway.estimate import tokens_for
from services.gateway.headers import upstream_request_headers
from services.gateway.keys import (
    CHANNEL_CACHE,
    HOLD_GATE,
    KEY_CACHE,
    PRICES,
    RELAY_METRICS,
    SETTINGS,
    UPSTREAM_SESSION,
    USAGE_SINK,
)
from services.gateway.principals import Principal, credential_from
from services.gateway.relay_stream import UpstreamBroke, next_chunk, relay_stream, relay_whole
from services.gateway.usage_result import Meter, Outcome
from services.gateway.wire import Api, Family, Inspected, WireError
from shared.bodies import read_limited
from shared.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from shared.pricing import worst_case
from shared.request_id import REQUEST_ID

FREE_APIS = frozenset({Api.ANTHROPIC_COUNT_TOKENS, Api.GEMINI_COUNT_TOKENS})


class UpstreamFailure(Exception):
    """The upstream answered with an error or not at all, before the first byte."""

    def __init__(
        self, status: int, message: str, code: str, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.retry_after = status, message, code, retry_after


def error_response(
    family: Family,
    status: int,
    message: str,
    code: str | None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(family, status, message, code=code),
        content_type="application/json",
        headers=headers,
    )


async def handle(request: web.Request, api: Api) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    meter = Meter(
        request_id=request[REQUEST_ID],
        endpoint=api.value,
        started=time.perf_counter(),
        client_ip=client_ip(request, settings.trust_forwarded_for),
        user_agent=(request.headers.get("User-Agent") or "")[:512] or None,
    )
    try:
        return await _relay(request, api, meter)
    except asyncio.CancelledError:
        meter.fail(Outcome.CLIENT_DISCONNECTED, 499, "client_disconnected")
        raise
    except ApiError as error:
        meter.fail(Outcome.REJECTED, error.status, error.code)
        return error_response(api.family, error.status, error.message, error.code, error.headers())
    except WireError as error:
        meter.fail(Outcome.REJECTED, error.error_status_hint, "invalid_request")
        return error_response(api.family, error.error_status_hint, str(error), "invalid_request")
    except UpstreamFailure as failure:
        meter.fail(Outcome.UPSTREAM_ERROR, failure.status, failure.code)
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
        return error_response(api.family, failure.status, failure.message, failure.code, headers)
    finally:
        if meter.hold_id is not None:
            request.app[RELAY_METRICS].holds_open.dec()
        await request.app[USAGE_SINK].record(meter.finish(time.perf_counter()))


async def authenticate_key(request: web.Request) -> Principal:
    credential = credential_from(request.headers, request.query)
    if credential is None:
        raise Unauthorized("an API key is required (Authorization: Bearer tg-...)")
    if credential.kind != "api_key":
        raise Unauthorized("model routes take an API key, not a login token")
    return await request.app[KEY_CACHE].principal(credential.value)


async def _relay(request: web.Request, api: Api, meter: Meter) -> web.StreamResponse:
    principal = await authenticate_key(request)
    meter.user_id, meter.key_id = principal.user_id, principal.key_id
    if api is Api.GEMINI_STREAM and request.query.get("alt") != "sse":
        raise BadRequest("streamGenerateContent is relayed as server-sent events only: add alt=sse")
    body = await read_limited(request, request.app[SETTINGS].max_body_bytes)
    inspected = wire.inspect(api, body, path_model=request.match_info.get("model"))
    meter.requested_model, meter.stream = inspected.model, inspected.stream
    if not principal.may_use(inspected.model):
        raise Forbidden(f"this API key may not use the model {inspected.model}")
    channel = choose(request.app[CHANNEL_CACHE].channels, api.family, inspected.model)
    if channel is None:
        raise NotFound(f"the model {inspected.model} does not exist or is not available")
    meter.channel_id, meter.upstream_model = channel.id, inspected.model
    if api not in FREE_APIS:
        await _reserve(request, api, inspected, meter)
    return await _exchange(request, api, inspected, channel, meter)


async def _reserve(request: web.Request, api: Api, inspected: Inspected, meter: Meter) -> None:
    """Hold the worst-case cost; a model with no price is not served at all."""
    price = await request.app[PRICES].current(inspected.model)
    if price is None:
        raise BadRequest(f"the model {inspected.model} has no price configured; it cannot be used")
    output_cap = 0 if api is Api.OPENAI_EMBEDDINGS else inspected.max_output_tokens
    amount = worst_case(
        price, prompt_tokens=tokens_for(inspected.prompt_bytes), max_output_tokens=output_cap
    )
    assert meter.user_id is not None
    await request.app[HOLD_GATE].reserve(meter.user_id, meter.request_id, amount)
    meter.hold_id, meter.hold_amount = meter.request_id, amount
    request.app[RELAY_METRICS].holds_open.inc()


async def _exchange(
    request: web.Request, api: Api, inspected: Inspected, channel: Channel, meter: Meter
) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    url = channel.base_url + wire.upstream_path(api, inspected.model, request.path)
    headers = upstream_request_headers(request.headers, api.family, channel.api_key)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.upstream_connect_timeout)
    try:
        async with asyncio.timeout(settings.upstream_first_byte_timeout):
            upstream = await request.app[UPSTREAM_SESSION].post(
                url,
                params=wire.upstream_query(api),
                data=inspected.body,
                headers=headers,
                allow_redirects=False,
                timeout=timeout,
            )
    except TimeoutError:
        raise UpstreamFailure(
            504, "the upstream did not answer in time", "upstream_timeout"
        ) from None
    except (aiohttp.ClientError, OSError):
        raise UpstreamFailure(
            502, "the upstream could not be reached", "upstream_unreachable"
        ) from None
    async with upstream:
        if upstream.status >= 300:
            raise await _failure(upstream)
        try:
            first = await next_chunk(upstream, settings.upstream_first_byte_timeout)
        except UpstreamBroke as broke:
            status = 504 if broke.code == "upstream_timeout" else 502
            raise UpstreamFailure(status, "the upstream answer broke off", broke.code) from None
        meter.first_byte = time.perf_counter()
        idle = settings.upstream_idle_timeout
        if inspected.stream and upstream.content_type == "text/event-stream":
            return await relay_stream(
                request,
                upstream,
                first,
                api=api,
                inspected=inspected,
                meter=meter,
                idle_seconds=idle,
            )
        try:
            return await relay_whole(
                upstream, first, api=api, inspected=inspected, meter=meter, idle_seconds=idle
            )
        except UpstreamBroke as broke:
            raise UpstreamFailure(502, "the upstream answer broke off", broke.code) from None


async def _failure(upstream: aiohttp.ClientResponse) -> UpstreamFailure:
    """An upstream error answer, as the client may see it: no keys, no addresses."""
    try:
        async with asyncio.timeout(10):
            raw = await upstream.content.read(64 * 1024)
    except (TimeoutError, aiohttp.ClientError, OSError):
        raw = b""
    message, code = _upstream_message(raw)
    status = upstream.status
    if status in (401, 403):
        return UpstreamFailure(
            502, "the upstream refused this channel's credentials", "upstream_auth_failed"
        )
    if status < 400 or status >= 500:
        return UpstreamFailure(502, "the upstream failed to answer", f"upstream_{status}")
    retry_after = upstream.headers.get("Retry-After") if status == 429 else None
    return UpstreamFailure(
        status, safe_message(message or "the upstream refused the request"), code, retry_after
    )


def _upstream_message(raw: bytes) -> tuple[str | None, str]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, "upstream_rejected"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "upstream_rejected"
    message = error.get("message")
    code = error.get("code") or error.get("type") or error.get("status")
    return (
        message if isinstance(message, str) else None,
        code if isinstance(code, str) else "upstream_rejected",
    )
