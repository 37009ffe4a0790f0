"""Commands from concurrent requests, pipelined on one Redis connection.

Under load many requests want Redis at the same moment (a hold to place, a
usage event to publish). Each queues its command here and awaits its own
reply; the first command of a loop turn schedules one flush for the next
turn, which writes every queued command to the connection in one write (no
MULTI: each command, script calls included, stays atomic on its own, and no
command waits for another's result). Replies come back in the order the
commands were written, so each is handed to its caller as it is parsed
(hiredis, which also packs them), or the caller's own error. No task, pool
or timeout object per command or per batch: this is the hot path of every
relayed request, and redis-py's pipeline costs more than the round trip it
saves here.

Work nobody waits for (a usage event whose answer is already out) can ask
to run just after the next write (`after_write`): the loop does it while it
waits for that write's replies, instead of before it reads a keep-alive
client's next request.

The connection is made on first use (AUTH and SELECT from the client's own
settings; TCP, TLS or a Unix socket) and again after it is lost. When it is
lost, when it cannot be made, or when a reply is later than the client's
`socket_timeout`, every command waiting on it fails with redis-py's
`ConnectionError` or `TimeoutError`, as the callers already handle.

A caller that is cancelled while it waits does not unsend its command: as
with any Redis call, a command may have run even when its caller never saw
the reply.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    InvalidResponse,
    NoScriptError,
    RedisError,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import tasks
from shared.redis_conn import Redis

_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
LINGER_SECONDS = 0.002

_Queued = tuple[tuple[Any, ...], "asyncio.Future[Any]"]
_INCOMPLETE = object()


def pack(command: tuple[Any, ...]) -> bytes:
    """One command in RESP: bytes as they are, str as UTF-8, int and float as text.

    hiredis packs it in C (a third of the time of packing it in Python, paid for
    every command of every request); anything else is refused with `TypeError`.
    """
    return cast(bytes, hiredis.pack_command(command))


def _reply_error(error: ResponseError) -> ResponseError:
    message = str(error)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return error


class _Line(asyncio.Protocol):
    """One connection: replies matched to waiting futures in order."""

    def __init__(self, timeout: float) -> None:
        self._reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=ResponseError, notEnoughData=_INCOMPLETE
        )
        self._timeout = timeout
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: no isinstance check
        self._transport = cast(asyncio.Transport, transport)

    def send(self, data: bytes, replies: list[asyncio.Future[Any]]) -> None:
        assert self._transport is not None
        now = time.monotonic()
        self._waiting.extend((reply, now) for reply in replies)
        self._transport.write(data)
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout, self._check)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                answer = self._reader.gets()
            except InvalidResponse as exc:
                self._fail(exc)
                return
            if answer is _INCOMPLETE:
                return
            if not waiting:
                self._fail(InvalidResponse("Redis sent a reply nobody asked for"))
                return
            reply, _ = waiting.popleft()
            if reply.done():
                continue  # its caller was cancelled
            if isinstance(answer, ResponseError):
                reply.set_exception(_reply_error(answer))
            else:
                reply.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail_waiting(
            RedisConnectionError(f"the Redis connection was lost: {exc or 'closed'}")
        )
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _check(self) -> None:
        """Fail everything when the oldest reply is later than the timeout."""
        self._watchdog = None
        if not self._waiting:
            return
        late = time.monotonic() - self._waiting[0][1]
        if late >= self._timeout:
            self._fail(RedisTimeoutError(f"Redis did not answer within {self._timeout:g} s"))
            return
        self._watchdog = asyncio.get_running_loop().call_later(self._timeout - late, self._check)

    def _fail(self, error: RedisError) -> None:
        self.lost = True
        self._fail_waiting(error)
        if self._transport is not None:
            self._transport.abort()

    def _fail_waiting(self, error: RedisError) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            reply, _ = self._waiting.popleft()
            if not reply.done():
                reply.set_exception(error)


class CommandBatcher:
    def __init__(self, redis: Redis) -> None:
        pool = redis.connection_pool
        self._connection_class = pool.connection_class
        self._settings: dict[str, Any] = dict(pool.connection_kwargs)
        timeout = self._settings.get("socket_timeout")
        self._timeout = float(timeout) if timeout else DEFAULT_TIMEOUT
        self._queue: list[_Queued] = []
        self._line: _Line | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._soon = False  # a flush is scheduled for the next loop turn
        self._later: asyncio.TimerHandle | None = None  # one is, after LINGER_SECONDS
        self._after_write: list[Callable[[], None]] = []
        self._closed = False  # closed for good: nothing may open a connection again
        self.writes = 0  # batches written: how many round trips the commands took

    def execute(self, *command: Any, linger: bool = False) -> asyncio.Future[Any]:
        """Queue one command (`"XADD", stream, "*", field, value`); its reply, awaitable.

        It is written at the next loop turn, with everything queued by then.
        With `linger`, it may wait up to `LINGER_SECONDS` for a command that
        cannot wait, and go in the same write: for work nobody is waiting on
        (a usage event whose answer was already sent). With `appendfsync
        always` every write Redis receives costs an fsync; a lone client
        would otherwise pay two per request (its event, then its next hold).
        """
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        if self._closed:  # work scheduled before the close, running after it
            reply.set_exception(RedisConnectionError("the command batcher was closed"))
            return reply
        self._queue.append((command, reply))
        if self._connecting is not None or self._soon:
            return reply  # the connection's flush, or the next turn's, takes it
        if not linger:
            self._soon = True
            loop.call_soon(self._flush)
        elif self._later is None:
            self._later = loop.call_later(LINGER_SECONDS, self._flush)
        return reply

    def after_write(self, work: Callable[[], None]) -> None:
        """Run `work` just after the next write has gone out, or in `LINGER_SECONDS`.

        For work nobody waits for (a usage event whose answer was already
        sent): done while the loop waits for Redis's reply to the write, it
        costs a keep-alive client nothing, where done before the handler
        returns it delayed the reading of that client's next request. Commands
        it queues with `linger` go in the next write.
        """
        self._after_write.append(work)
        if self._later is None and not self._soon and self._connecting is None:
            self._later = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._flush)

    def run_after_write_work(self) -> None:
        """Run the work `after_write` holds now (at shutdown, or before a drain)."""
        while self._after_write:
            work, self._after_write = self._after_write, []
            for item in work:
                try:
                    item()
                except Exception:
                    _log.exception("work after a Redis write failed")

    async def aclose(self) -> None:
        """Close the connection; what still waits on it, or is queued, fails with
        `ConnectionError` (nothing queued is left to a timer that would reconnect).

        Work waiting for a write runs first, so that what it queues fails
        visibly (a usage event goes to the spool then) instead of being dropped.
        """
        self.run_after_write_work()
        self._closed = True
        if self._connecting is not None:  # no connection may open after the close
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self._later is not None:
            self._later.cancel()
            self._later = None
        queue, self._queue = self._queue, []
        for _, reply in queue:
            if not reply.done():
                reply.set_exception(RedisConnectionError("the command batcher was closed"))
        line, self._line = self._line, None
        if line is not None:
            line.close()
            await line.closed

    def _flush(self) -> None:
        self._soon = False
        if self._later is not None:
            self._later.cancel()
            self._later = None
        self._write()
        if self._after_write:
            self.run_after_write_work()

    def _write(self) -> None:
        if not self._queue:
            return
        line = self._line
        if line is None or line.lost:
            self._line = None
            self._connecting = tasks.spawn(self._connect_and_flush(), name="redis-batch-connect")
            return
        queue, self._queue = self._queue, []
        replies = []
        parts = []
        for command, reply in queue:
            try:
                parts.append(pack(command))
            except TypeError as exc:
                reply.set_exception(
                    RedisError(f"a Redis argument must be bytes, str, int or float: {exc}")
                )
                continue
            replies.append(reply)
        if replies:
            self.writes += 1
            line.send(b"".join(parts), replies)

    async def _connect_and_flush(self) -> None:
        line: _Line | None = None
        try:
            line = await self._connect()
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            queue, self._queue = self._queue, []
            error = exc if isinstance(exc, RedisError) else RedisConnectionError(str(exc))
            for _, reply in queue:
                if not reply.done():
                    reply.set_exception(error)
        finally:
            self._connecting = None
        if line is None:
            self.run_after_write_work()  # nothing was written; the loop waited all the same
            return
        self._line = line
        self._flush()

    async def _connect(self) -> _Line:
        settings = self._settings
        loop = asyncio.get_running_loop()
        within = settings.get("socket_connect_timeout") or self._timeout
        try:
            async with asyncio.timeout(within):
                if issubclass(self._connection_class, UnixDomainSocketConnection):
                    _, line = await loop.create_unix_connection(
                        lambda: _Line(self._timeout), settings["path"]
                    )
                else:
                    _, line = await loop.create_connection(
                        lambda: _Line(self._timeout),
                        settings.get("host", "localhost"),
                        settings.get("port", 6379),
                        ssl=self._tls(),
                    )
                await self._greet(line)
        except TimeoutError as exc:
            raise RedisTimeoutError(f"could not connect to Redis within {within:g} s") from exc
        except OSError as exc:
            raise RedisConnectionError(f"could not connect to Redis: {exc}") from exc
        return line

    def _tls(self) -> ssl.SSLContext | None:
        if not issubclass(self._connection_class, SSLConnection):
            return None
        # redis-py's own TLS settings (ssl_ca_certs, ssl_cert_reqs, ...), as its connections do
        context: ssl.SSLContext = self._connection_class(**self._settings).ssl_context.get()
        return context

    async def _greet(self, line: _Line) -> None:
        """AUTH and SELECT, as redis-py's own connections do."""
        greeting: list[tuple[Any, ...]] = []
        password, username = self._settings.get("password"), self._settings.get("username")
        if password:
            greeting.append(("AUTH", username, password) if username else ("AUTH", password))
        if self._settings.get("db"):
            greeting.append(("SELECT", self._settings["db"]))
        if not greeting:
            return
        loop = asyncio.get_running_loop()
        replies = [loop.create_future() for _ in greeting]
        line.send(b"".join(pack(command) for command in greeting), replies)
        try:
            for reply in replies:
                await reply
        except BaseException:
            line.close()
            raise
