"""One attempt at one channel: send the request, wait for the answer to start.

An attempt ends in one of two ways, both before any byte reaches the client:

- an `Answer`: a stream whose first chunk has arrived (the caller relays the
  rest and owns the open upstream response), or a whole answer read to its
  end (nothing of it is sent yet, so a break in it can still fail over);
- an `UpstreamFailure` of a `FailureKind`, carrying what the client may be
  told (never the upstream's address or key). Every kind but `CLIENT_ERROR`
  (the upstream refused the request itself, a 4xx other than 401, 403, 429)
  may be retried on another channel.

The upstream client's exceptions (`upstream_http`) are mapped to failures
here and nowhere else.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

import orjson
from multidict import CIMultiDictProxy

from services.gateway.channels.choice import Channel, Timeouts
from services.gateway.edge.headers import upstream_request_headers
from services.gateway.relay import wire
from services.gateway.relay.apis import Api
from services.gateway.relay.client_errors import safe_message
from services.gateway.relay.stream import MAX_WHOLE_BODY, UpstreamBroke, next_chunk
from services.gateway.relay.wire import Inspected
from services.gateway.upstream.address_guard import AddressRefused, literal_refusal
from services.gateway.upstream.client import ConnectFailed, UpstreamClient
from services.gateway.upstream.connection import UpstreamResponse


class FailureKind(StrEnum):
    """How an attempt failed; the `kind` label of `tollgate_channel_errors_total`."""

    CONNECT = "connect_error"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    AUTH_FAILED = "auth_failed"
    REDIRECT = "redirect"
    BROKEN = "broken"
    ADDRESS_REFUSED = "address_refused"
    CLIENT_ERROR = "client_error"


class UpstreamFailure(Exception):
    """An attempt that failed before the first byte reached the client."""

    def __init__(
        self,
        kind: FailureKind,
        status: int,
        message: str,
        code: str,
        retry_after: str | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.status, self.message, self.code = kind, status, message, code
        self.retry_after, self.upstream_status = retry_after, upstream_status

    @property
    def fails_over(self) -> bool:
        return self.kind is not FailureKind.CLIENT_ERROR

    def retry_after_seconds(self) -> float | None:
        return retry_after_seconds(self.retry_after)


@dataclass(slots=True)
class StreamAnswer:
    response: UpstreamResponse
    first_chunk: bytes
    first_byte_at: float


@dataclass(frozen=True, slots=True)
class WholeAnswer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    first_byte_at: float


Answer = StreamAnswer | WholeAnswer


@functools.lru_cache(maxsize=1024)
def _literal_refusal(base_url: str) -> str | None:
    return literal_refusal(base_url)


async def attempt(
    client: UpstreamClient,
    channel: Channel,
    api: Api,
    inspected: Inspected,
    *,
    model: str,
    path: str,
    client_headers: Mapping[str, str],
    timeouts: Timeouts,
    on_sent: Callable[[], object] | None = None,
) -> Answer:
    """`on_sent` is called once the request is written to the upstream's connection."""
    if not channel.allow_private_network and _literal_refusal(channel.base_url) is not None:
        raise UpstreamFailure(
            FailureKind.ADDRESS_REFUSED,
            502,
            "the channel's upstream address is not allowed",
            "upstream_address_refused",
        )
    upstream_model = channel.upstream_model(model)
    response: UpstreamResponse | None = None
    streaming = False
    try:
        async with asyncio.timeout(timeouts.first_byte):
            response = await client.request(
                "POST",
                channel.base_url + wire.upstream_path(api, upstream_model, path),
                query=wire.upstream_query(api),
                body=wire.with_model(
                    api, inspected.body, upstream_model, requested_model=inspected.model
                ),
                headers=upstream_request_headers(client_headers, api.family, channel.api_key),
                connect_timeout=timeouts.connect,
                on_sent=on_sent,
            )
            if response.status >= 300:
                raise await _failure(response)
            first = await response.readany()
        first_byte_at = time.perf_counter()
        if inspected.stream and response.content_type == "text/event-stream":
            streaming = True  # the caller relays the rest and closes it
            return StreamAnswer(response, first, first_byte_at)
        body = await _read_whole(response, first, timeouts.idle)
        return WholeAnswer(response.status, response.headers, body, first_byte_at)
    except TimeoutError:
        raise UpstreamFailure(
            FailureKind.TIMEOUT, 504, "the upstream did not answer in time", "upstream_timeout"
        ) from None
    except UpstreamBroke as broke:
        kind = FailureKind.TIMEOUT if broke.code == "upstream_timeout" else FailureKind.BROKEN
        status = 504 if kind is FailureKind.TIMEOUT else 502
        raise UpstreamFailure(kind, status, "the upstream answer broke off", broke.code) from None
    except OSError as exc:
        raise _connection_failure(exc) from None
    finally:
        if response is not None and not streaming:
            response.release()


async def _read_whole(response: UpstreamResponse, first: bytes, idle: float) -> bytes:
    body = bytearray(first)
    while chunk := await next_chunk(response, idle):
        body += chunk
        if len(body) > MAX_WHOLE_BODY:
            raise UpstreamBroke("upstream_body_too_large")
    return bytes(body)


def _connection_failure(exc: BaseException) -> UpstreamFailure:
    """No connection could be made (connect error), or it broke before the answer began."""
    if isinstance(exc, AddressRefused):
        return UpstreamFailure(
            FailureKind.ADDRESS_REFUSED,
            502,
            "the channel's upstream address is not allowed",
            "upstream_address_refused",
        )
    if isinstance(exc, ConnectFailed):
        return UpstreamFailure(
            FailureKind.CONNECT, 502, "the upstream could not be reached", "upstream_unreachable"
        )
    return UpstreamFailure(
        FailureKind.BROKEN, 502, "the upstream answer broke off", "upstream_disconnected"
    )


async def _failure(upstream: UpstreamResponse) -> UpstreamFailure:
    """An upstream error answer, as the client may see it: no keys, no addresses."""
    try:
        async with asyncio.timeout(10):
            raw = await upstream.read(64 * 1024)
    except (TimeoutError, OSError):
        raw = b""
    status = upstream.status
    message, code = _upstream_message(raw)
    if status < 400:
        kind, client_status, message, code = (
            FailureKind.REDIRECT,
            502,
            "the upstream answered with a redirect",
            f"upstream_{status}",
        )
    elif status in (401, 403):
        kind, client_status, message, code = (
            FailureKind.AUTH_FAILED,
            502,
            "the upstream refused this channel's credentials",
            "upstream_auth_failed",
        )
    elif status >= 500:
        kind, client_status, message, code = (
            FailureKind.SERVER_ERROR,
            502,
            "the upstream failed to answer",
            f"upstream_{status}",
        )
    elif status == 429:
        kind, client_status = FailureKind.RATE_LIMITED, 429
        message = safe_message(message or "the upstream is rate limited")
    else:
        kind, client_status = FailureKind.CLIENT_ERROR, status
        message = safe_message(message or "the upstream refused the request")
    retry_after = upstream.headers.get("Retry-After") if status == 429 else None
    return UpstreamFailure(kind, client_status, message, code, retry_after, status)


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


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)
