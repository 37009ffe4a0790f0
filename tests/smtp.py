"""SMTP servers for mail tests: the real mail sink, and servers that refuse."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509

from services.mailsink.app import SMTP_PORT
from services.mailsink.app import create_app as create_sink
from services.mailsink.settings import Settings as SinkSettings
from tests import certificates

AiohttpServer = Callable[..., Awaitable[TestServer]]


async def start_sink(aiohttp_server: AiohttpServer, smtp_port: int = 0) -> tuple[TestServer, int]:
    """The mail sink on loopback: its page server and its SMTP port."""
    server = await aiohttp_server(create_sink(SinkSettings(smtp_port=smtp_port, port=0)))
    return server, server.app[SMTP_PORT]


class Refusing:
    """A handler answering every message with a temporary failure (451)."""

    def __init__(self) -> None:
        self.tries = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.tries += 1
        return "451 4.3.0 try again later"


class Keeping:
    """A handler keeping every message's raw bytes."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope.original_content or b"")
        return "250 OK"


@asynccontextmanager
async def smtp_server(handler: Any, port: int = 0, **smtp: Any) -> AsyncIterator[int]:
    """An aiosmtpd server on loopback with `handler`; yields its port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="test-smtp", **smtp), host="127.0.0.1", port=port
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the certificate file clients trust."""
    cert_file, key_file = certificates.self_signed(
        directory, x509.IPAddress(ipaddress.ip_address("127.0.0.1")), prefix="smtp-"
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
