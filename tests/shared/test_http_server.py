"""`shared.http_server`: malformed HTTP answered in JSON, a head-read timeout.

Raw sockets against a real listening server, since both happen below any
application: aiohttp's parser refuses the bytes, or never gets a whole head.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from shared.http_server import Runner
from shared.response_headers import stamp

HEAD_TIMEOUT = 0.5
# Bounds every wait, so a regression fails instead of hanging; never a timing claim.
PATIENCE = 20.0
MALFORMED = {"error": {"code": "bad_request", "message": "malformed HTTP request"}}


async def _ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    app.on_response_prepare.append(stamp)
    app.router.add_route("*", "/ok", _ok)
    runner = Runner(app, head_timeout=HEAD_TIMEOUT)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def _exchange(port: int, sent: bytes) -> bytes:
    """Send `sent`, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        return await asyncio.wait_for(reader.read(), PATIENCE)
    finally:
        writer.close()


def _parts(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value for name, _, value in (x.partition(": ") for x in lines)}
    return status, headers, body


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """What the server sends before it closes the connection."""
    return await asyncio.wait_for(reader.read(), PATIENCE)


@pytest.mark.parametrize(
    "sent",
    [
        b"\x00\x01<script>SECRET-BYTES</script> / HTTP/1.1\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nHost: x\r\nBad<Header>SECRET-BYTES: 1\r\n\r\n",
        b"GET /ok HTTP/9.SECRET-BYTES\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nContent-Length: SECRET-BYTES\r\n\r\n",
    ],
)
async def test_malformed_http_is_a_json_400_that_echoes_nothing(
    port: int, sent: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await _exchange(port, sent)
    assert "malformed HTTP request" in caplog.text
    assert "SECRET-BYTES" not in caplog.text and "Traceback" not in caplog.text
    status, headers, body = _parts(answer)
    assert status.split(" ", 2)[1:] == ["400", "Bad Request"], answer
    assert headers["content-type"].startswith("application/json")
    assert orjson.loads(body) == MALFORMED
    assert b"SECRET-BYTES" not in answer and b"script" not in answer
    assert headers["server"] == "tollgate" and "aiohttp" not in answer.decode()
    assert headers["x-content-type-options"] == "nosniff"  # and the server closed


async def test_a_half_sent_head_is_closed_without_an_answer(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n")  # no blank line: never finished
        assert await _closed(reader) == b""
    finally:
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await _closed(reader) == b""
    finally:
        writer.close()


async def test_trickling_a_head_does_not_extend_its_deadline(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    sent = 0
    try:
        # One byte every 50 ms: the whole head would take 10 s, 20 timeouts.
        for byte in head:
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(bytes([byte]))
            sent += 1
            await asyncio.sleep(0.05)
        answer = await _closed(reader)
    except ConnectionError:
        answer = b""
    finally:
        writer.close()
    assert answer == b"" and sent < len(head)


async def test_half_open_connections_do_not_stop_requests_and_are_all_closed(
    port: int,
) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
    try:
        for _, writer in idle:
            writer.write(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Le")
        answer = await _exchange(port, b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, headers, body = _parts(answer)
        assert status.startswith("HTTP/1.1 200") and orjson.loads(body) == {"ok": True}
        assert headers["cache-control"] == "no-store"
        closed = await asyncio.gather(*(_closed(reader) for reader, _ in idle))
        assert closed == [b""] * 200
    finally:
        for _, writer in idle:
            writer.close()


async def test_an_idle_keep_alive_connection_and_a_slow_body_are_not_cut(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"true}"), PATIENCE)
        assert first.startswith(b"HTTP/1.1 200")
        await asyncio.sleep(HEAD_TIMEOUT * 3)  # idle between requests: keep-alive's time
        writer.write(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        await asyncio.sleep(HEAD_TIMEOUT * 3)  # the head is whole; the body is slow
        writer.write(b"cd")
        second = await asyncio.wait_for(reader.readuntil(b"true}"), PATIENCE)
        assert second.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
