"""Raw HTTP/1.1 on a socket: a request written as the bytes given, the answer read back.

aiohttp's client refuses much of what a hostile client sends (bytes outside
ASCII in a path, control characters in a header, a header of 100 KB), so the
suite writes requests itself: one request per connection, `Connection: close`,
and reads the answer with llhttp (`httptools`, which the gateway already uses
for its upstream calls). Every wait is bounded by `TIMEOUT`.

An `Outcome` is the status of a whole answer, or what happened instead:
`closed` (the server closed the connection without answering: what a server
may do to a request it will not read), `cut` (the answer's head came but its
body stopped short: a failure, whatever the status), `garbled` (bytes that
are not HTTP: a failure), `refused` (nothing listens: the server is gone, a
failure), `timeout` (no whole answer in time: a hang, a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httptools

TIMEOUT = 20.0
_READ = 65536


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None  # None when no whole head arrived
    kind: str  # "answered", "closed", "cut", "garbled", "refused" or "timeout"
    body: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What the tally counts: the status, or `closed`, `cut`, `timeout`."""
        if self.kind == "answered" and self.status is not None:
            return str(self.status)
        if self.kind == "cut" and self.status is not None:
            return f"{self.status}-cut"
        return self.kind


class _Answer:
    """llhttp callbacks: the head, the body, and whether the message ended."""

    def __init__(self, head_only: bool) -> None:
        self.head_only = head_only
        self.headers: dict[bytes, bytes] = {}
        self.body = bytearray()
        self.head_done = False
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.head_done = True
        if self.head_only:  # a HEAD answer has no body whatever its Content-Length says
            self.done = True

    def on_body(self, body: bytes) -> None:
        if len(self.body) < 1 << 20:
            self.body += body

    def on_message_complete(self) -> None:
        self.done = True

    def interim(self, status: int) -> bool:
        """A 1xx before the answer (`100 Continue`): forget it and read on."""
        if 100 <= status < 200 and status != 101:
            self.headers, self.body = {}, bytearray()
            self.head_done = self.done = False
            return True
        return False


def request_bytes(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes | None,
    *,
    host: bytes,
) -> bytes:
    """An HTTP/1.1 request as written on the wire; Content-Length when there is a body
    (unless `headers` brings its own framing)."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + host, b"Connection: close"]
    names = {name.lower() for name, _ in headers}
    lines += [name + b": " + value for name, value in headers]
    if body is not None and b"content-length" not in names and b"transfer-encoding" not in names:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


async def exchange(
    host: str, port: int, raw: bytes, *, head_only: bool = False, seconds: float = TIMEOUT
) -> Outcome:
    """Write `raw` on a new connection and read one answer (bounded by `seconds`)."""
    try:
        return await asyncio.wait_for(_exchange(host, port, raw, head_only), seconds)
    except TimeoutError:
        return Outcome(None, "timeout")


async def _exchange(host: str, port: int, raw: bytes, head_only: bool) -> Outcome:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return Outcome(None, "refused")
    answer = _Answer(head_only)
    parser = httptools.HttpResponseParser(answer)
    status: int | None = None

    async def send() -> None:
        # A server may answer (413, 400) and close before reading all of a big request.
        with contextlib.suppress(ConnectionError):
            writer.write(raw)
            await writer.drain()

    sending = asyncio.ensure_future(send())
    try:
        while not answer.done:
            try:
                chunk = await reader.read(_READ)
            except ConnectionError:
                chunk = b""
            if not chunk:
                break
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserUpgrade:
                break
            except httptools.HttpParserError:
                return Outcome(None, "garbled")
            if answer.head_done and status is None:
                status = parser.get_status_code()
            if answer.done and status is not None and answer.interim(status):
                status = None
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if status is None:
        return Outcome(None, "closed")
    if answer.done or _read_until_close(answer.headers):
        return Outcome(status, "answered", bytes(answer.body), answer.headers)
    return Outcome(status, "cut", bytes(answer.body), answer.headers)


def _read_until_close(headers: dict[bytes, bytes]) -> bool:
    """An answer with neither length nor chunks ends when the connection does."""
    return b"content-length" not in headers and b"transfer-encoding" not in headers
