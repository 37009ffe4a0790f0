"""The upstream HTTP client against real loopback servers that answer with exact bytes."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509

from services.gateway.upstream.address_guard import AddressRefused
from services.gateway.upstream.client import ConnectFailed, UpstreamClient, origin_of
from services.gateway.upstream.connection import UpstreamClosed, UpstreamResponse
from tests import certificates

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A loopback server: reads each request's head and body, answers with `answer`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.received = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                self.received.set()
                await self.answer(request, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.disconnected.set()
            writer.close()


@asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[Server]:
    server = Server(answer)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


def fixed(raw: bytes, *, close: bool = False) -> Answer:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        if close:
            writer.close()

    return answer


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def post(client: UpstreamClient, url: str) -> Awaitable[UpstreamResponse]:
    """An empty POST, as the tests send it when the body does not matter."""
    return client.request("POST", url, headers={}, connect_timeout=5)


async def read_all(client: UpstreamClient, url: str) -> tuple[int, bytes]:
    response = await client.request(
        "POST", url, body=b"{}", headers={"content-type": "application/json"}, connect_timeout=5
    )
    async with response:
        body = bytearray()
        while chunk := await response.readany():
            body += chunk
        return response.status, bytes(body)


async def test_answers_are_read_and_the_connection_is_kept() -> None:
    client = UpstreamClient(guarded=False)
    async with serving(fixed(OK)) as server:
        url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
        assert await read_all(client, url) == (200, b'{"ok":true}')
        assert await read_all(client, url) == (200, b'{"ok":true}')
        assert server.connections == 1
        first = server.requests[0]
        assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in first
        assert b"Content-Length: 2\r\n" in first and first.endswith(b"\r\n\r\n{}")
    await client.close()


async def test_the_query_is_appended() -> None:
    client = UpstreamClient(guarded=False)
    async with serving(fixed(OK)) as server:
        response = await client.request(
            "POST",
            f"http://127.0.0.1:{server.port}/v1beta/models/m:streamGenerateContent",
            query={"alt": "sse"},
            body=b"{}",
            headers={},
            connect_timeout=5,
        )
        response.release()
        assert server.requests[0].startswith(
            b"POST /v1beta/models/m:streamGenerateContent?alt=sse HTTP/1.1\r\n"
        )
    await client.close()


async def test_a_chunked_answer_is_decoded() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6\r\ndata: \r\n3\r\n1\n\n\r\n0\r\n\r\n"
    )
    client = UpstreamClient(guarded=False)
    async with serving(fixed(raw)) as server:
        url = f"http://127.0.0.1:{server.port}/x"
        assert await read_all(client, url) == (200, b"data: 1\n\n")
        assert await read_all(client, url) == (200, b"data: 1\n\n")
        assert server.connections == 1
    await client.close()


async def test_an_answer_without_length_ends_with_the_connection() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nall of it"
    client = UpstreamClient(guarded=False)
    async with serving(fixed(raw, close=True)) as server:
        url = f"http://127.0.0.1:{server.port}/x"
        assert await read_all(client, url) == (200, b"all of it")
        assert await read_all(client, url) == (200, b"all of it")
        assert server.connections == 2  # never reused
    await client.close()


async def test_an_answer_cut_short_raises() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
    client = UpstreamClient(guarded=False)
    async with serving(fixed(raw, close=True)) as server:
        response = await post(client, server.url)
        assert response.status == 200
        received = b""
        with pytest.raises(UpstreamClosed):
            while chunk := await response.readany():
                received += chunk
        assert received == b"only this"
        response.release()
    await client.close()


async def test_a_connection_closed_before_the_answer_raises() -> None:
    client = UpstreamClient(guarded=False)
    async with serving(fixed(b"", close=True)) as server:
        with pytest.raises(UpstreamClosed):
            await post(client, server.url)
    await client.close()


async def test_garbage_raises() -> None:
    client = UpstreamClient(guarded=False)
    async with serving(fixed(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")) as server:
        with pytest.raises(UpstreamClosed):
            await post(client, server.url)
    await client.close()


async def test_an_answer_not_read_to_its_end_closes_the_connection() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789"
    client = UpstreamClient(guarded=False)
    async with serving(fixed(raw)) as server:
        url = f"http://127.0.0.1:{server.port}/x"
        response = await post(client, url)
        assert await response.readany() == b"0123456789"
        response.release()  # ten bytes still to come: the connection is not reused
        await asyncio.wait_for(server.disconnected.wait(), 5)
        response = await post(client, url)
        response.close()
        assert server.connections == 2
    await client.close()


async def test_cancelling_a_request_closes_its_connection() -> None:
    async def never(request: bytes, writer: asyncio.StreamWriter) -> None:
        pass  # no answer; the server reads on, and sees the client go

    client = UpstreamClient(guarded=False)
    async with serving(never) as server:
        task = asyncio.ensure_future(post(client, server.url))
        await asyncio.wait_for(server.received.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.disconnected.wait(), 5)
    await client.close()


async def test_a_refused_connection_is_a_connect_failure() -> None:
    async with serving(fixed(OK)) as server:
        port = server.port
    client = UpstreamClient(guarded=False)
    with pytest.raises(ConnectFailed):
        await post(client, f"http://127.0.0.1:{port}/x")
    with pytest.raises(ConnectFailed):
        await post(client, "http://no-such-host.invalid/x")


async def test_the_guarded_client_refuses_names_of_private_addresses() -> None:
    client = UpstreamClient(guarded=True)
    async with serving(fixed(OK)) as server:
        with pytest.raises(AddressRefused, match="loopback"):
            await post(client, f"http://localhost:{server.port}/x")
        assert server.connections == 0


async def test_a_header_with_a_line_break_is_refused() -> None:
    client = UpstreamClient(guarded=False)
    with pytest.raises(ValueError, match="line break"):
        await client.request(
            "POST", "http://127.0.0.1:1/x", headers={"x-a": "1\r\nx-b: 2"}, connect_timeout=5
        )


async def test_a_slow_reader_pauses_the_upstream() -> None:
    size = 32 * 1024 * 1024  # more than the socket buffers of both ends hold

    async def big(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        writer.write(b"x" * size)
        await writer.drain()

    client = UpstreamClient(guarded=False)
    async with serving(big) as server:
        response = await post(client, server.url)
        await asyncio.sleep(0.2)  # the upstream sends as fast as it can; nobody reads
        waiting = response.read_nowait()
        assert len(waiting) < size // 2  # reading paused, the rest waits in the socket
        total = len(waiting)
        while chunk := await response.readany():
            total += len(chunk)
        assert total == size
        response.release()
    await client.close()


def test_origins() -> None:
    assert origin_of("https://api.openai.com").host_header == "api.openai.com"
    assert origin_of("http://127.0.0.1:8090").host_header == "127.0.0.1:8090"
    assert origin_of("http://[::1]:80").host_header == "[::1]"
    with pytest.raises(ValueError):
        origin_of("ftp://example.com")


async def test_a_connection_the_upstream_closed_while_idle_is_not_reused() -> None:
    async def once(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(OK)  # says nothing of closing, then closes: an idle timeout
        await writer.drain()
        writer.close()

    client = UpstreamClient(guarded=False)
    async with serving(once) as server:
        url = f"http://127.0.0.1:{server.port}/x"
        assert await read_all(client, url) == (200, b'{"ok":true}')
        await asyncio.wait_for(server.disconnected.wait(), 5)
        for _ in range(500):  # until the close reaches the client's loop
            if not any(client._idle.values()):
                break
            await asyncio.sleep(0.01)
        assert await read_all(client, url) == (200, b'{"ok":true}')
        assert server.connections == 2
    await client.close()


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, and its key."""
    return certificates.self_signed(directory, x509.DNSName("localhost"))


async def test_https_origins_are_reached_over_tls_with_the_name_checked(tmp_path: Path) -> None:
    cert_path, key_path = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_path, key_path)
    server = Server(fixed(OK))
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=server_tls)
    port = listener.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context(cafile=str(cert_path))
    client = UpstreamClient(guarded=False, ssl_context=trusting)
    try:
        url = f"https://localhost:{port}/v1/chat/completions"
        assert await read_all(client, url) == (200, b'{"ok":true}')
        assert await read_all(client, url) == (200, b'{"ok":true}')
        assert server.connections == 1
        assert f"Host: localhost:{port}\r\n".encode() in server.requests[0]
        with pytest.raises(ConnectFailed):  # the system's trust store: not this certificate
            await post(UpstreamClient(guarded=False), url)
    finally:
        await client.close()
        listener.close()
