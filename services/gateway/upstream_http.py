"""HTTP/1.1 to the channels: pooled keep-alive connections, bytes in, bytes out.

The relay's upstream call is on the path of every request, and aiohttp's
client spends about 60 us of CPU on each (a request object, auto headers,
payload registry, timers, a stream reader per response) against about 10 us
for the same bytes on a plain protocol. This client does only what the relay
needs of it:

- one request at a time per connection, idle connections kept per origin
  (LIFO, closed after `IDLE_SECONDS` unused or when the upstream closes them);
- the request written in one `write`: request line, `Host`, the caller's
  headers (already filtered, `headers.upstream_request_headers`) and
  `Content-Length`; redirects are never followed (a 3xx is just an answer);
- the answer parsed by llhttp (`httptools`): status and headers, then the
  body by `Content-Length`, chunked, or until the connection closes;
  reading pauses while more than `HIGH_WATER` bytes wait for a slow reader;
- TLS for `https` origins (the system's trust store, the host name checked);
- the URL guard (`upstream_guard`): a `guarded` client resolves the name
  itself and refuses it, before connecting, when any address is refused;
  IP literals are checked by the relay per channel (`literal_refusal`).

Errors are the caller's to map (`attempt`, the one boundary): `ConnectFailed`
(no connection could be made), `UpstreamClosed` (the connection or its
answer broke off), `AddressRefused` (the guard), `TimeoutError` (connect).
A connection whose answer was not read to its end is closed, never reused.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode, urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway.upstream_guard import UnknownHost, resolve

IDLE_SECONDS = 15.0
HIGH_WATER = 256 * 1024
MAX_HEAD_BYTES = 64 * 1024


class ConnectFailed(OSError):
    """No connection to the upstream could be made."""


class UpstreamClosed(OSError):
    """The connection broke off, or the answer could not be parsed, before its end."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    host_header: str


@functools.lru_cache(maxsize=1024)
def origin_of(base_url: str) -> Origin:
    """The scheme, host and port of a URL without its path, parsed once."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return Origin(
        scheme=parts.scheme,
        host=host,
        port=port,
        host_header=shown if port == default else f"{shown}:{port}",
    )


class UpstreamResponse:
    """An answer whose head has arrived; its body is read with `readany`."""

    __slots__ = ("status", "headers", "_connection", "_released")

    def __init__(
        self, status: int, headers: CIMultiDictProxy[str], connection: _Connection
    ) -> None:
        self.status = status
        self.headers = headers
        self._connection = connection
        self._released = False

    @property
    def content_type(self) -> str:
        """The media type, lower-case, without parameters (`text/event-stream`)."""
        value = self.headers.get("Content-Type", "")
        return value.partition(";")[0].strip().lower()

    @property
    def arrived(self) -> bool:
        """The whole body has arrived (what is left is `read_nowait`'s)."""
        return self._connection.complete

    def read_nowait(self) -> bytes:
        """What has arrived and not been read, without waiting (b"" for none)."""
        return self._connection.take()

    async def readany(self) -> bytes:
        """The next bytes of the body, as soon as any are in; b"" at its end."""
        connection = self._connection
        while not connection.body:
            if connection.complete:
                return b""
            if connection.failure is not None:
                raise connection.failure
            await connection.wait_for_body()
        return connection.take()

    async def read(self, limit: int) -> bytes:
        """The body up to `limit` bytes."""
        out = bytearray()
        while len(out) < limit and (chunk := await self.readany()):
            out += chunk
        return bytes(out[:limit])

    def release(self) -> None:
        """Done with the answer: the connection goes back to its pool if it may."""
        if not self._released:
            self._released = True
            self._connection.finished()

    def close(self) -> None:
        """Abandon the answer: the connection is closed (the upstream stops sending)."""
        if not self._released:
            self._released = True
        self._connection.abort()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()


class _Connection(asyncio.Protocol):
    """One upstream connection and the answer it is receiving."""

    def __init__(self, pool: UpstreamClient, origin: Origin) -> None:
        self._pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._head: asyncio.Future[UpstreamResponse] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._header_pairs: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._framed = False  # Content-Length or chunked: the end is known without a close
        self._paused = False
        self.body: list[bytes] = []
        self._buffered = 0
        self.complete = True  # no answer in progress
        self._keep_alive = False
        self.failure: UpstreamClosed | None = None
        self.closed = False

    # --- the request -----------------------------------------------------

    def send(self, head: bytes, body: bytes) -> asyncio.Future[UpstreamResponse]:
        assert self.transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._head = asyncio.get_running_loop().create_future()
        self._header_pairs, self._head_bytes, self._framed = [], 0, False
        self.body, self._buffered = [], 0
        self.complete, self.failure, self._keep_alive = False, None, False
        self.transport.writelines((head, body))
        return self._head

    # --- the body, for UpstreamResponse ------------------------------------

    def take(self) -> bytes:
        chunks, self.body, self._buffered = self.body, [], 0
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def wait_for_body(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def finished(self) -> None:
        if self.complete and self.failure is None and self._keep_alive:
            self._pool.put_back(self)
        else:
            self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    # --- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if self.complete or parser is None:  # bytes nobody asked for: not to be trusted
            self.abort()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail("the upstream switched protocols")
        except httptools.HttpParserError as error:
            self._fail(f"the upstream's answer could not be parsed: {error}")

    def eof_received(self) -> bool | None:
        self._ended_by_close()
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        self._ended_by_close()

    # --- httptools callbacks ----------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise httptools.HttpParserError("the answer's head is too large")
        self._header_pairs.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        headers = CIMultiDictProxy(CIMultiDict(self._header_pairs))
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self._header_pairs, self._head_bytes = [], 0
            return
        self._framed = (
            "Content-Length" in headers or "chunked" in headers.get("Transfer-Encoding", "").lower()
        )
        head = self._head
        if head is not None and not head.done():
            head.set_result(UpstreamResponse(status, headers, self))

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._parser is None or self._parser.get_status_code() < 200:
            return
        # Read here: llhttp forgets it once the message is over.
        self._keep_alive = self._parser.should_keep_alive()
        self.complete = True
        self._wake()

    # --- endings -------------------------------------------------------------

    def _ended_by_close(self) -> None:
        if self.complete:
            return
        head = self._head
        if head is not None and head.done() and not self._framed:
            self.complete = True  # a body that ends where the connection does
            self._wake()
            return
        self._fail("the upstream closed the connection before its answer was complete")

    def _fail(self, reason: str) -> None:
        failure = UpstreamClosed(reason)
        self.failure = failure
        head = self._head
        if head is not None and not head.done():
            head.set_exception(failure)
        self._wake()
        self.abort()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class UpstreamClient:
    """Requests to channels' origins; `guarded` refuses non-public addresses."""

    def __init__(self, *, guarded: bool, ssl_context: ssl.SSLContext | None = None) -> None:
        self._guarded = guarded
        self._ssl = ssl_context
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def request(
        self,
        method: str,
        url: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str],
        connect_timeout: float | None,
    ) -> UpstreamResponse:
        """Send the request; return once the answer's head is in (cancel: the connection closes)."""
        origin, target = _split(url, query)
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"a line break in the header {name!r}")
            lines.append(f"{name}: {value}\r\n")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        head = "".join(lines).encode("utf-8") + b"\r\n"
        connection = self._reusable(origin) or await self._connect(origin, connect_timeout)
        try:
            return await connection.send(head, body)
        except BaseException:
            connection.abort()
            raise

    def put_back(self, connection: _Connection) -> None:
        if connection.closed:
            connection.abort()
            return
        now = connection.idle_since = time.monotonic()
        idle = self._idle.setdefault(connection.origin, deque())
        while idle and now - idle[0].idle_since > IDLE_SECONDS:
            idle.popleft().abort()  # the oldest first: unused for too long
        idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle is not None and connection in idle:
            idle.remove(connection)

    async def close(self) -> None:
        for connection in list(self._open):
            connection.abort()
        self._idle.clear()
        self._open.clear()

    def _reusable(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if (
                connection.closed
                or connection.transport is None
                or (connection.transport.is_closing())
            ):
                continue
            if now - connection.idle_since > IDLE_SECONDS:
                connection.abort()
                continue
            return connection
        return None

    async def _connect(self, origin: Origin, seconds: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls() if origin.scheme == "https" else None
        connection: _Connection | None = None
        last: OSError | None = None
        async with asyncio.timeout(seconds):
            try:
                addresses = await resolve(origin.host, origin.port, guarded=self._guarded)
            except UnknownHost as unknown:
                raise ConnectFailed(str(unknown)) from unknown
            for family, address in addresses:
                try:
                    _, connection = await loop.create_connection(
                        lambda: _Connection(self, origin),
                        address,
                        origin.port,
                        family=family,
                        ssl=tls,
                        server_hostname=origin.host if tls is not None else None,
                    )
                    break
                except OSError as error:  # ssl.SSLError included
                    last = error
        if connection is None:
            raise ConnectFailed(f"cannot connect to {origin.host}: {last}") from last
        self._open.add(connection)
        return connection

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl


def _split(url: str, query: dict[str, str] | None) -> tuple[Origin, str]:
    """The origin, and the request target (path and query) to send it."""
    scheme_end = url.index("://") + 3
    path_start = url.find("/", scheme_end)
    base, path = (url, "/") if path_start < 0 else (url[:path_start], url[path_start:])
    origin = origin_of(base)
    if query:
        path += ("&" if "?" in path else "?") + urlencode(query)
    return origin, path
