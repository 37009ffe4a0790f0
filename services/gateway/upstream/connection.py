"""One upstream HTTP/1.1 connection, and the answer it is receiving.

`Connection` is the asyncio protocol under `upstream_http.UpstreamClient`:
it writes one request, feeds what comes back to llhttp (`httptools`), hands
the answer's head over as an `UpstreamResponse`, and keeps its body until
the reader takes it. Rules it keeps:

- a body ends by `Content-Length`, by the last chunk, or, when it has
  neither, by the connection's close; a close anywhere else is a failure
  (`UpstreamClosed`), also for whoever is waiting for the head;
- reading pauses while more than `HIGH_WATER` bytes wait for a slow reader,
  and resumes when it takes them;
- interim (1xx) answers are skipped; bytes nobody asked for close it;
- it goes back to its pool only when its answer was read to the end and
  both sides keep the connection alive; otherwise it is closed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

if TYPE_CHECKING:
    from services.gateway.upstream.client import Origin

HIGH_WATER = 256 * 1024
MAX_HEAD_BYTES = 64 * 1024


class Pool(Protocol):
    """Where a connection goes when its answer is over, and says it is gone."""

    def put_back(self, connection: Connection) -> None: ...

    def forget(self, connection: Connection) -> None: ...


class UpstreamClosed(OSError):
    """The connection broke off, or the answer could not be parsed, before its end."""


class UpstreamResponse:
    """An answer whose head has arrived; its body is read with `readany`."""

    __slots__ = ("status", "headers", "_connection", "_released")

    def __init__(self, status: int, headers: CIMultiDictProxy[str], connection: Connection) -> None:
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
        """Abandon the answer: the connection is closed (the upstream stops sending).

        Once released, the connection may already serve another request: left alone.
        """
        if not self._released:
            self._released = True
            self._connection.abort()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()


class Connection(asyncio.Protocol):
    """One upstream connection and the answer it is receiving."""

    def __init__(self, pool: Pool, origin: Origin) -> None:
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
