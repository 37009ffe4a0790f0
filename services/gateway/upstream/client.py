"""HTTP/1.1 to the channels: pooled keep-alive connections, bytes in, bytes out.

The relay's upstream call is on the path of every request, and aiohttp's
client spends about 60 us of CPU on each (a request object, auto headers,
payload registry, timers, a stream reader per response) against about 15 us
for this one (`bench.overhead.client_cost`). This client does only what the relay
needs of it:

- one request at a time per connection, idle connections kept per origin
  (LIFO, closed after `IDLE_SECONDS` unused or when the upstream closes them);
- the request written in one `write`: request line, `Host`, the caller's
  headers (already filtered, `headers.upstream_request_headers`) and
  `Content-Length`; redirects are never followed (a 3xx is just an answer);
- the answer read by one `upstream_connection.Connection` per connection
  (llhttp, through `httptools`), handed over as an `UpstreamResponse`;
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
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from services.gateway.upstream.address_guard import UnknownHost, resolve
from services.gateway.upstream.connection import Connection, UpstreamResponse

IDLE_SECONDS = 15.0


class ConnectFailed(OSError):
    """No connection to the upstream could be made."""


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


class UpstreamClient:
    """Requests to channels' origins; `guarded` refuses non-public addresses."""

    def __init__(self, *, guarded: bool, ssl_context: ssl.SSLContext | None = None) -> None:
        self._guarded = guarded
        self._ssl = ssl_context
        self._idle: dict[Origin, deque[Connection]] = {}
        self._open: set[Connection] = set()

    async def request(
        self,
        method: str,
        url: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str],
        connect_timeout: float | None,
        on_sent: Callable[[], object] | None = None,
    ) -> UpstreamResponse:
        """Send the request; return once the answer's head is in (cancel: the connection closes).

        `on_sent` is called when the request has been written to the connection.
        """
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
            head_received = connection.send(head, body)
            if on_sent is not None:
                on_sent()
            return await head_received
        except BaseException:
            connection.abort()
            raise

    def put_back(self, connection: Connection) -> None:
        if connection.closed:
            connection.abort()
            return
        now = connection.idle_since = time.monotonic()
        idle = self._idle.setdefault(connection.origin, deque())
        while idle and now - idle[0].idle_since > IDLE_SECONDS:
            idle.popleft().abort()  # the oldest first: unused for too long
        idle.append(connection)

    def forget(self, connection: Connection) -> None:
        self._open.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle is not None and connection in idle:
            idle.remove(connection)

    async def close(self) -> None:
        for connection in list(self._open):
            connection.abort()
        self._idle.clear()
        self._open.clear()

    def _reusable(self, origin: Origin) -> Connection | None:
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

    async def _connect(self, origin: Origin, seconds: float | None) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls() if origin.scheme == "https" else None
        connection: Connection | None = None
        last: OSError | None = None
        async with asyncio.timeout(seconds):
            try:
                addresses = await resolve(origin.host, origin.port, guarded=self._guarded)
            except UnknownHost as unknown:
                raise ConnectFailed(str(unknown)) from unknown
            for family, address in addresses:
                try:
                    _, connection = await loop.create_connection(
                        lambda: Connection(self, origin),
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
