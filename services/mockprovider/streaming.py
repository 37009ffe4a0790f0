"""The one place answers are written: pacing, resets, stalls, disconnects.

Wire modules produce `sse.Frame`s lazily; `send_stream` writes each one as it
is produced (one `write` per event) and carries out the `Behaviour`: a delay
before each content piece, an abrupt `transport.abort()` (no terminating chunk,
no clean end) after `reset_after` pieces, a stall after `stall_after` pieces
that lasts until the client disconnects. `send_body` does the same for a
non-streaming answer. Both record the exchange in `Stats`.

A client leaving is noticed within `POLL_SECONDS` even while the mock sleeps or
stalls (aiohttp does not cancel handlers on disconnect by default), or at the
next write; the handler then returns quietly instead of raising.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from aiohttp import web

from services.mockprovider.behaviour import Behaviour
from services.mockprovider.keys import STATS
from services.mockprovider.sse import Frame, Part
from services.mockprovider.stats import Exchange, Outcome

POLL_SECONDS = 0.02


class ClientGone(ConnectionResetError):
    """The client closed its connection while the mock was waiting."""


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def pause(request: web.BaseRequest, seconds: float) -> None:
    """Sleep, but raise `ClientGone` as soon as the client disconnects."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if client_gone(request):
            raise ClientGone("client disconnected")
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(POLL_SECONDS, remaining))


async def stall(request: web.BaseRequest) -> None:
    """Send nothing, forever: returns only by raising `ClientGone`."""
    while True:
        await pause(request, 3600)


def abort(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def send_stream(
    request: web.Request,
    frames: Iterable[Frame],
    *,
    behaviour: Behaviour,
    content_type: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    response = web.StreamResponse(status=status)
    response.headers.update(headers or {})
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-cache"
    stats = request.app[STATS]
    exchange = stats.begin(request.path, stream=True)
    outcome = Outcome.CANCELLED  # also what a cancelled handler task leaves behind
    try:
        await response.prepare(request)
        outcome = await _play(request, response, frames, behaviour, exchange)
    except ConnectionResetError:
        outcome = Outcome.CANCELLED
    finally:
        stats.end(exchange, outcome)
    return response


async def _play(
    request: web.Request,
    response: web.StreamResponse,
    frames: Iterable[Frame],
    behaviour: Behaviour,
    exchange: Exchange,
) -> Outcome:
    for frame in frames:
        if frame.part is not Part.PREAMBLE:
            if behaviour.stall_after is not None and exchange.pieces_sent >= behaviour.stall_after:
                await stall(request)
            if behaviour.reset_after is not None and exchange.pieces_sent >= behaviour.reset_after:
                abort(request)
                return Outcome.RESET
        if frame.part is Part.CONTENT and behaviour.delay_ms:
            await pause(request, behaviour.delay_ms / 1000)
        await response.write(frame.data)
        if frame.part is Part.CONTENT:
            exchange.pieces_sent += 1
    await response.write_eof()
    return Outcome.COMPLETED


async def send_body(
    request: web.Request,
    body: bytes,
    *,
    behaviour: Behaviour,
    pieces: int,
    content_type: str = "application/json",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """A whole answer, after the time its pieces would have taken to stream."""
    stats = request.app[STATS]
    exchange = stats.begin(request.path, stream=False)
    outcome = Outcome.CANCELLED
    response: web.StreamResponse = web.Response(status=status, body=body, headers=headers)
    response.headers["Content-Type"] = content_type
    try:
        if behaviour.reset_after is not None:
            abort(request)
            outcome = Outcome.RESET
            return response
        if behaviour.stall_after is not None:
            response = web.StreamResponse(status=status, headers=response.headers)
            await response.prepare(request)  # the headers go out, the body never does
            await stall(request)
        await pause(request, behaviour.delay_ms * pieces / 1000)
        outcome = Outcome.COMPLETED
        exchange.pieces_sent = pieces
    except ConnectionResetError:
        outcome = Outcome.CANCELLED
    finally:
        stats.end(exchange, outcome)
    return response
