"""Relaying an upstream answer to the client: streamed as events, or whole.

Streams are relayed event by event as the bytes arrive, never buffered
whole: each upstream chunk is parsed incrementally, usage is read on the way,
and the complete events it finished are written at once, byte for byte (the
extra usage chunk the gateway asked for is the only one held back). A failure
of the upstream after the first byte ends the stream with an error event in
the client's format; a client that hangs up ends the upstream request.

What a stream is billed when its final usage never comes (`usage_result`):
the content bytes of the events written to the client (`delivered`: text,
tool arguments, reasoning; counted once a write went through, not when the
event was parsed), and what the provider reported on the way. A stream that
ends with its usage never needs them, so they are measured late: the events
written are kept (already in memory: their bytes, raw and data, count
against `UNMEASURED_LIMIT`) and measured in a batch when that fills or when
the stream ends without usage. A finished stream under the limit is never
measured at all; what is kept stays bounded per stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import orjson
from aiohttp import web

from services.gateway.edge.headers import client_response_headers
from services.gateway.metering import provider_usage, stream_usage
from services.gateway.metering.estimate import estimate
from services.gateway.metering.usage_result import Meter, Outcome
from services.gateway.relay import delivered
from services.gateway.relay.apis import Api
from services.gateway.relay.client_errors import stream_error_event
from services.gateway.relay.sse import SseError, SseEvent, SseParser
from services.gateway.relay.wire import Inspected
from services.gateway.upstream.connection import UpstreamResponse
from shared.request_id import HEADER as REQUEST_ID_HEADER

MAX_WHOLE_BODY = 64 * 1024 * 1024
UNMEASURED_LIMIT = 64 * 1024  # bytes of written events kept unmeasured, per stream


class UpstreamBroke(Exception):
    """The upstream failed mid-answer; `code` names how."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ClientGone(Exception):
    """The client hung up while we were writing to it."""


async def next_chunk(upstream: UpstreamResponse, idle_seconds: float) -> bytes:
    if upstream.arrived:
        return upstream.read_nowait()  # what is left, or b"": no timer when nothing can wait
    try:
        async with asyncio.timeout(idle_seconds):
            return await upstream.readany()
    except TimeoutError:
        raise UpstreamBroke("upstream_timeout") from None
    except OSError:
        raise UpstreamBroke("upstream_disconnected") from None


async def _send(client: web.StreamResponse, data: bytes) -> None:
    try:
        await client.write(data)
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        raise ClientGone from None


class _Forwarder:
    """Chooses which parsed events go to the client and counts what they carry."""

    def __init__(self, api: Api, inspected: Inspected) -> None:
        name = api.tracker_name or ""
        self.tracker = stream_usage.tracker_for(name)
        self._content_of = delivered.counter_for(name)
        self.hide_usage_chunk = inspected.hidden_usage
        self._taken: list[SseEvent] = []  # taken, not yet written
        self._unmeasured: list[SseEvent] = []  # written, not yet measured
        self._unmeasured_size = 0
        self._measured_bytes = 0

    def take(self, events: list[SseEvent]) -> bytes:
        out = []
        taken = self._taken
        for event in events:
            self.tracker.feed(event)
            if self.hide_usage_chunk and stream_usage.is_usage_only_chunk(event):
                continue
            taken.append(event)
            out.append(event.raw)
        return b"".join(out)

    def written(self) -> None:
        """What `take` returned reached the client's connection."""
        for event in self._taken:
            self._unmeasured_size += len(event.raw) + len(event.data)
        self._unmeasured += self._taken
        self._taken.clear()
        if self._unmeasured_size > UNMEASURED_LIMIT:
            self._measure()

    def delivered_bytes(self) -> int:
        """Content bytes in every event written to the client (measures what is left)."""
        self._measure()
        return self._measured_bytes

    def _measure(self) -> None:
        content_of = self._content_of
        self._measured_bytes += sum(content_of(event) for event in self._unmeasured)
        self._unmeasured.clear()
        self._unmeasured_size = 0


async def relay_stream(
    request: web.Request,
    upstream: UpstreamResponse,
    first_chunk: bytes,
    *,
    api: Api,
    inspected: Inspected,
    meter: Meter,
    idle_seconds: float,
) -> web.StreamResponse:
    client = web.StreamResponse(
        status=upstream.status, headers=client_response_headers(upstream.headers)
    )
    # Prepared here, so the request id middleware cannot add it afterwards.
    client.headers[REQUEST_ID_HEADER] = meter.request_id
    await client.prepare(request)
    parser, forwarder = SseParser(), _Forwarder(api, inspected)
    meter.http_status = upstream.status
    chunk = first_chunk
    try:
        while chunk:
            if data := forwarder.take(parser.feed(chunk)):
                await _send(client, data)
                forwarder.written()
            chunk = await next_chunk(upstream, idle_seconds)
        if data := forwarder.take(parser.close()):
            await _send(client, data)
            forwarder.written()
        meter.status = Outcome.OK
    except (UpstreamBroke, SseError) as broke:
        code = broke.code if isinstance(broke, UpstreamBroke) else "upstream_bad_stream"
        meter.fail(Outcome.UPSTREAM_ERROR, upstream.status, code)
        upstream.close()
        try:
            await _send(
                client,
                stream_error_event(api, "the upstream stream ended early; answer incomplete"),
            )
        except ClientGone:
            meter.fail(Outcome.CLIENT_DISCONNECTED, upstream.status, "client_disconnected")
    except ClientGone:
        meter.fail(Outcome.CLIENT_DISCONNECTED, upstream.status, "client_disconnected")
        upstream.close()
    finally:
        tracker = forwarder.tracker
        meter.upstream_usage, meter.partial_usage = tracker.usage, tracker.partial_usage
        if meter.upstream_usage is None:  # else never used: not worth measuring
            meter.estimated_usage = estimate(
                api, prompt_bytes=inspected.prompt_bytes, output_bytes=forwarder.delivered_bytes()
            )
    if meter.status is not Outcome.CLIENT_DISCONNECTED:
        try:
            await client.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            meter.fail(Outcome.CLIENT_DISCONNECTED, upstream.status, "client_disconnected")
    return client


_WHOLE_USAGE = {
    Api.OPENAI_CHAT: provider_usage.from_openai_chat,
    Api.OPENAI_RESPONSES: provider_usage.from_openai_responses,
    Api.OPENAI_EMBEDDINGS: provider_usage.from_openai_embeddings,
    Api.ANTHROPIC_MESSAGES: provider_usage.from_anthropic,
    Api.GEMINI_GENERATE: provider_usage.from_gemini,
    Api.GEMINI_STREAM: provider_usage.from_gemini,
}


def whole_usage(api: Api, body: bytes) -> provider_usage.TokenUsage | None:
    """Usage of a whole (non-streamed) answer; count-tokens calls use none."""
    read = _WHOLE_USAGE.get(api)
    if read is None:
        return provider_usage.TokenUsage()
    try:
        return read(orjson.loads(body))
    except (orjson.JSONDecodeError, provider_usage.UsageError):
        return None


def relay_whole(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    api: Api,
    inspected: Inspected,
    meter: Meter,
) -> web.Response:
    """The client's response for a whole answer, read to its end by the attempt."""
    meter.status, meter.http_status = Outcome.OK, status
    meter.upstream_usage = whole_usage(api, body)
    if meter.upstream_usage is None:
        output_bytes = delivered.whole_answer(api.tracker_name, body)
        meter.estimated_usage = estimate(
            api, prompt_bytes=inspected.prompt_bytes, output_bytes=output_bytes
        )
    return web.Response(status=status, body=body, headers=client_response_headers(headers))
