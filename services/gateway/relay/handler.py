"""The relay: `/v1/*` and `/v1beta/*` model traffic, from client to channel and back.

Per request: the API key is resolved to a principal (in-process cache), the
body is read within its limit and inspected (pure), the model's alias is
resolved and its channels found in the in-memory routing table (pure), the
worst-case cost is held, the router tries channels until one answers
(`failover`), and the answer is relayed (streamed when it is a stream). When
the caller's last-known balance covers the worst case several times over, the
hold and the upstream request go together (`optimistic_hold`); the answer is
relayed only once the hold is placed. No
PostgreSQL on this path. Whatever happens, exactly one
`UsageResult` is made, in a `finally` that also runs when the client
hangs up (the handler is cancelled then, which closes the upstream request);
a whole answer is sent before that, so the client never waits for it.
A client that hangs up once its request has reached an upstream (before any
answer byte included: the provider has the prompt) is billed that input,
estimated as the hold estimates it, and marked partial (`usage_result`).
The result is handed over (`UsagePublisher.record_soon`) and recorded just
after the gateway's next Redis write goes out, while it waits for the reply:
the handler returns at once, so a keep-alive client's next request is read
without waiting for the result's logging, counting or publishing. Every failure is
answered in the client's own error format.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from services.gateway.admission import ip_allowlist
from services.gateway.admission.key_budget import PlannedBudget, plan_budget
from services.gateway.admission.limit_headers import (
    LIMIT_HEADERS,
    admitted_headers,
    refused_headers,
)
from services.gateway.admission.limits import LimitExceeded, plan, worst_case_tokens
from services.gateway.admission.principals import Principal, credential_from
from services.gateway.app_keys import (
    CHANNEL_CACHE,
    HOLD_GATE,
    KEY_CACHE,
    PRICES,
    RELAY_METRICS,
    ROUTER,
    SETTINGS,
    USAGE_SINK,
)
from services.gateway.channels.choice import Channel
from services.gateway.edge.api_proxy import client_ip
from services.gateway.metering.estimate import estimate, tokens_for
from services.gateway.metering.usage_result import Meter, Outcome
from services.gateway.relay import optimistic_hold, wire
from services.gateway.relay.apis import Api, Family
from services.gateway.relay.attempt import Answer, UpstreamFailure, WholeAnswer
from services.gateway.relay.client_errors import error_body
from services.gateway.relay.stream import relay_stream, relay_whole
from services.gateway.relay.wire import Inspected, WireError
from shared.bodies import read_limited
from shared.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from shared.limits import Limit
from shared.logs import LOGGED_BY_HANDLER
from shared.pricing import worst_case
from shared.request_id import HEADER as REQUEST_ID_HEADER
from shared.request_id import REQUEST_ID

FREE_APIS = frozenset({Api.ANTHROPIC_COUNT_TOKENS, Api.GEMINI_COUNT_TOKENS})


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
    request[LOGGED_BY_HANDLER] = True  # the "relayed" line says it all
    meter = Meter(
        request_id=request[REQUEST_ID],
        endpoint=api.value,
        started=time.perf_counter(),
        client_ip=client_ip(request, settings.trust_forwarded_for),
        user_agent=(request.headers.get("User-Agent") or "")[:512] or None,
    )
    try:
        response = await _answer(request, api, meter)
        await _send_now(request, response, meter.request_id)
        return response
    finally:
        if meter.hold_id is not None:
            request.app[RELAY_METRICS].holds_open.dec()
            request.app[HOLD_GATE].ended(meter.hold_id)
        request.app[USAGE_SINK].record_soon(meter.finish(time.perf_counter()))


async def _answer(request: web.Request, api: Api, meter: Meter) -> web.StreamResponse:
    """The relayed answer, or the failure in the client's own error format."""
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


async def _send_now(request: web.Request, response: web.StreamResponse, request_id: str) -> None:
    """Send a whole answer before its usage event is published: the client never waits
    for the publish (streams are sent as they arrive, already)."""
    if response.prepared:
        return
    response.headers[REQUEST_ID_HEADER] = request_id
    try:
        await response.prepare(request)
        await response.write_eof()
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        pass  # the client left as its complete answer went out; it is billed as delivered


async def authenticate_key(request: web.Request) -> Principal:
    """The key's principal; a suspended account's key and a client address outside
    the key's allowlist are refused here (403), before any hold or upstream call."""
    credential = credential_from(request.headers, request.query)
    if credential is None:
        raise Unauthorized("an API key is required (Authorization: Bearer tg-...)")
    if credential.kind != "api_key":
        raise Unauthorized("model routes take an API key, not a login token")
    principal = await request.app[KEY_CACHE].principal(credential.value)
    if principal.ip_allowlist is not None:
        trusted = request.app[SETTINGS].trust_forwarded_for
        ip_allowlist.check(principal.ip_allowlist, client_ip(request, trusted))
    return principal


async def _relay(request: web.Request, api: Api, meter: Meter) -> web.StreamResponse:
    principal = await authenticate_key(request)
    meter.user_id, meter.key_id = principal.user_id, principal.key_id
    meter.price_multiplier = principal.price_multiplier  # the hold's, the event's, the charge's
    if api is Api.GEMINI_STREAM and request.query.get("alt") != "sse":
        raise BadRequest("streamGenerateContent is relayed as server-sent events only: add alt=sse")
    body = await read_limited(request, request.app[SETTINGS].max_body_bytes)
    inspected = wire.inspect(api, body, path_model=request.match_info.get("model"))
    table = request.app[CHANNEL_CACHE].table
    model = table.resolve(inspected.model)
    meter.requested_model, meter.stream = model, inspected.stream
    if not (principal.may_use(inspected.model) or principal.may_use(model)):
        raise Forbidden(f"this API key may not use the model {inspected.model}")
    candidates = table.serving(api.family, model)
    if not candidates:
        raise NotFound(f"the model {inspected.model} does not exist or is not available")
    hold = None
    if api not in FREE_APIS:
        hold = await _plan_hold(request, api, model, inspected, meter, principal)
    try:
        return await _open_and_relay(request, api, inspected, model, candidates, meter, hold)
    except asyncio.CancelledError:
        if meter.reached_upstream and meter.estimated_usage is None:
            # The client hung up on a request the upstream has, before any answer.
            meter.estimated_usage = estimate(
                api, prompt_bytes=inspected.prompt_bytes, output_bytes=0
            )
        raise


async def _open_and_relay(
    request: web.Request,
    api: Api,
    inspected: Inspected,
    model: str,
    candidates: Sequence[Channel],
    meter: Meter,
    hold: _Hold | None,
) -> web.StreamResponse:
    """Hold, then open the upstream; or both at once when the caller's last-known
    balance covers the worst case several times over (`optimistic_hold`)."""

    def open_upstream() -> Coroutine[Any, Any, tuple[Channel, Answer]]:
        return request.app[ROUTER].open(
            api,
            inspected,
            model,
            candidates,
            path=request.path,
            client_headers=request.headers,
            meter=meter,
        )

    if hold is None:
        channel, answer = await open_upstream()
    else:
        place = functools.partial(_place_hold, request, api, meter, hold)
        assert meter.user_id is not None
        if request.app[HOLD_GATE].covers(meter.user_id, hold.amount, hold.applied):
            channel, answer = await optimistic_hold.together(place, open_upstream, _abandon, meter)
        else:
            await place()
            channel, answer = await open_upstream()
    meter.first_byte = answer.first_byte_at
    if isinstance(answer, WholeAnswer):
        return relay_whole(
            answer.status, answer.headers, answer.body, api=api, inspected=inspected, meter=meter
        )
    idle = channel.timeouts(request.app[ROUTER].default_timeouts).idle
    async with answer.response:
        return await relay_stream(
            request,
            answer.response,
            answer.first_chunk,
            api=api,
            inspected=inspected,
            meter=meter,
            idle_seconds=idle,
        )


def _abandon(opened: tuple[Channel, Answer]) -> None:
    """An answer that will not be relayed: a stream's connection is closed."""
    answer = opened[1]
    if not isinstance(answer, WholeAnswer):
        answer.response.close()


@dataclass(frozen=True, slots=True)
class _Hold:
    """What a request's hold takes: its worst-case cost, limits and key budget."""

    amount: Decimal
    applied: tuple[Limit, ...]
    budget: PlannedBudget | None


async def _plan_hold(
    request: web.Request,
    api: Api,
    model: str,
    inspected: Inspected,
    meter: Meter,
    principal: Principal,
) -> _Hold:
    """The worst-case cost, and the principal's limits and its key's budget, all
    taken in the hold's one command (DESIGN 13); a model with no price is not served."""
    price = await request.app[PRICES].current(model)
    if price is None:
        raise BadRequest(f"the model {model} has no price configured; it cannot be used")
    output_cap = 0 if api is Api.OPENAI_EMBEDDINGS else inspected.max_output_tokens
    amount = worst_case(
        price,
        prompt_tokens=tokens_for(inspected.prompt_bytes),
        max_output_tokens=output_cap,
        choices=inspected.choices,
        multiplier=meter.price_multiplier,
    )
    worst_tokens = worst_case_tokens(
        prompt_tokens=tokens_for(inspected.prompt_bytes),
        max_output_tokens=output_cap,
        model_max_output=price.max_output_tokens,
        choices=inspected.choices,
    )
    applied = plan(principal, worst_tokens, (inspected.model, model))
    budget = plan_budget(principal, amount, datetime.now(UTC))
    if budget is not None:
        applied += (budget.limit,)
    return _Hold(amount, applied, budget)


async def _place_hold(request: web.Request, api: Api, meter: Meter, hold: _Hold) -> None:
    assert meter.user_id is not None
    try:
        standings = await request.app[HOLD_GATE].reserve(
            meter.user_id, meter.request_id, hold.amount, hold.applied, hold.budget
        )
    except LimitExceeded as refused:
        request[LIMIT_HEADERS] = refused_headers(api.family, refused.refusal, datetime.now(UTC))
        raise
    meter.hold_id, meter.hold_amount, meter.limits = meter.request_id, hold.amount, hold.applied
    request.app[RELAY_METRICS].holds_open.inc()
    if hold.applied:
        request[LIMIT_HEADERS] = admitted_headers(api.family, standings, datetime.now(UTC))
