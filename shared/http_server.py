"""The HTTP/1.1 server every service runs: aiohttp's, with three edges filed down.

1. **Malformed HTTP.** aiohttp answers bytes its parser refuses with a
   `text/plain` 400 whose body is the parser's message, which quotes the
   bytes received, and logs that message with a traceback. Here the answer is
   `{"error": {"code": "bad_request", "message": "malformed HTTP request"}}`
   with the headers of `response_headers.BASE_HEADERS`, the connection is
   closed, and one warning names only the parser's error class: no client
   byte reaches the answer or the log. The other statuses aiohttp makes at
   this level (500 and 504 for a handler that escaped the error middleware)
   are JSON too, saying nothing more than their status.
2. **A head-read timeout.** aiohttp has none: its `keepalive_timeout`
   (75 s) closes a connection that waits for a request, counted from the
   connection's start or its last answer, and nothing bounds how long a
   request head may take to arrive (`read_timeout` is a client setting).
   So a client that sends part of a head and stops holds a connection, a
   file descriptor and a parser for over a minute, and can open thousands.
   `HeadTimeoutHandler` keeps one timer per connection: armed when the
   connection opens and when the first bytes of a later request arrive
   while no request is being handled; disarmed when the parser has a whole
   head. When it fires with the head still incomplete, the connection is
   closed without an answer (a client that cannot send a head is not
   reading one). The deadline runs from the head's first byte, so
   trickling one byte at a time does not extend it. Bodies are not timed
   here: a handler reading one has its own limits.
3. **A body left unread that cannot be decoded** (say a broken gzip, after
   the handler answered without reading it) is logged as one info line, not
   as aiohttp's "Unhandled exception" with a traceback.

The timer reads three attributes of aiohttp's `RequestHandler` that are not
public (`_request_count`, `_request_in_progress`, `_messages`);
`tests/shared/test_http_server.py` pins the behaviour, so an aiohttp upgrade
that changes them fails there, not in production.

`Runner` is `web.AppRunner` with this handler; sites (`web.TCPSite`) take it
as they take any runner.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

from shared.errors import error_body
from shared.response_headers import BASE_HEADERS

_log = logging.getLogger(__name__)

_ANSWERS = {
    400: ("bad_request", "malformed HTTP request"),
    504: ("timeout", "the request took too long"),
}


class HeadTimeoutHandler(RequestHandler):
    """aiohttp's protocol, with a head-read timeout and JSON low-level errors."""

    def __init__(self, manager: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads:
            self._disarm()  # a whole head (or a parse error, answered at once)
        elif data and not self._request_in_progress:
            self._arm()  # the first bytes of a head; a running timer keeps its deadline

    def _arm(self) -> None:
        if self._head_timer is None and self._head_timeout > 0:
            self._head_timer = self._loop.call_later(self._head_timeout, self._expire)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        if self._request_in_progress or self._messages or self.transport is None:
            return
        _log.info(
            "request head incomplete; connection closed", extra={"after_s": self._head_timeout}
        )
        self.force_close()

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, RequestPayloadError):
            # After the answer aiohttp reads and drops a body the handler left
            # unread; one it cannot decode (a broken gzip) is the client's doing,
            # and the connection is closed: a line without the client's bytes.
            _log.info("unread request body could not be decoded; connection closed")
            return
        super().log_exception(*args, **kwargs)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == 400:
            # The parser's message quotes the client's bytes: only its class is
            # logged. Not HTTP at all as a connection's first bytes (TLS, scanners)
            # is the public internet's noise: debug, as aiohttp logs it.
            noise = self._request_count == 1 and isinstance(exc, BadHttpMethod)
            _log.log(
                logging.DEBUG if noise else logging.WARNING,
                "malformed HTTP request",
                extra={"reason": type(exc).__name__ if exc else None},
            )
        else:
            self.log_exception("error handling a request", exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had already begun; the connection is closed")
        code, text = _ANSWERS.get(status, ("internal_error", "internal error"))
        response = web.Response(
            status=status,
            body=error_body(code, text),
            content_type="application/json",
            headers=BASE_HEADERS,
        )
        response.force_close()
        return response


class _Server(web.Server):
    def __init__(self, *args: Any, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout = head_timeout

    def __call__(self) -> RequestHandler:
        return HeadTimeoutHandler(
            self, loop=self._loop, head_timeout=self._head_timeout, **self._kwargs
        )


class Runner(web.AppRunner):
    """`web.AppRunner` whose connections are `HeadTimeoutHandler`s.

    `head_timeout` is in seconds; 0 turns the timer off. Other keyword
    arguments are `web.AppRunner`'s.
    """

    def __init__(self, app: web.Application, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._head_timeout = head_timeout

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # runs the app's start-up, freezes it
        return _Server(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            head_timeout=self._head_timeout,
            **plain._kwargs,
        )
