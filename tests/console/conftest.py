"""`console_stack`: the web console behind a real gateway, beside `stack`.

Auth mails to the real mail sink; the gateway (on a port chosen first, so
that it is its own public URL: the Origin a browser sends) forwards non-API
paths to the console, and the console calls the gateway's `/api/*` back.
Cookies are not `Secure` (plain HTTP on loopback), so a client's cookie jar
(`browser`) keeps the session like a browser would. Browser tests
(tests/browser/) use the same fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.auth.app import create_app as create_auth
from services.console.app import create_app as create_console
from services.console.settings import Settings as ConsoleSettings
from services.gateway.app import create_app as create_gateway
from shared.mail.outbox import RetryPolicy
from shared.mail.settings import MailSettings
from tests.conftest import AiohttpServer, Stack
from tests.ports import free_ports
from tests.smtp import start_sink


@dataclass(frozen=True, kw_only=True)
class ConsoleStack:
    url: str  # the gateway's base URL: what a browser opens, and the public origin
    gateway: TestServer
    console: TestServer
    auth: TestServer
    sink: TestServer
    stack: Stack
    console_settings: ConsoleSettings


async def start_console_stack(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    *,
    trust_forwarded_for: bool = False,
    console_host: str = "127.0.0.1",
    console_changes: dict[str, Any] | None = None,
    gateway_port: int | None = None,
    **auth_changes: Any,
) -> ConsoleStack:
    """With `trust_forwarded_for`, the gateway takes the client address from
    X-Forwarded-For, so a test plays browsers at different addresses;
    `console_host` is the name the gateway reaches the console by;
    `console_changes` are settings of the console (analytics, say);
    `gateway_port`, when given, is the gateway's (a service started before
    needs the public URL)."""
    sink, smtp_port = await start_sink(aiohttp_server)
    if gateway_port is None:
        (gateway_port, console_port) = free_ports(2)
    else:
        (console_port,) = free_ports(1)  # never one handed out before
    url = f"http://127.0.0.1:{gateway_port}"
    auth_settings = replace(
        stack.auth_settings,
        public_url=url,
        session_cookie_secure=False,
        mail=MailSettings(
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            poll_seconds=0.05,
            retry=RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=1000),
        ),
        **auth_changes,
    )
    auth = await aiohttp_server(create_auth(auth_settings))
    console_settings = ConsoleSettings(
        common=stack.common, gateway_url=url, public_url=url, **(console_changes or {})
    )
    console = await aiohttp_server(create_console(console_settings), port=console_port)
    gateway_settings = replace(
        stack.gateway_settings,
        auth_url=str(auth.make_url("")).rstrip("/"),
        public_url=url,
        session_cookie_secure=False,
        trust_forwarded_for=trust_forwarded_for,
        console_url=f"http://{console_host}:{console_port}",
        spool_dir=stack.common.data_dir / "spool-console",
    )
    gateway = await aiohttp_server(create_gateway(gateway_settings), port=gateway_port)
    return ConsoleStack(
        url=url,
        gateway=gateway,
        console=console,
        auth=auth,
        sink=sink,
        stack=stack,
        console_settings=console_settings,
    )


@pytest.fixture
async def console_stack(stack: Stack, aiohttp_server: AiohttpServer) -> ConsoleStack:
    return await start_console_stack(stack, aiohttp_server)


def browser_session(base: ConsoleStack, **headers: str) -> aiohttp.ClientSession:
    """A client that behaves like a browser here: keeps cookies (the loopback IP
    included), sends the page's Origin, follows no redirect unless asked."""
    return aiohttp.ClientSession(
        base_url=base.url,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        headers={"Origin": base.url, **headers},
    )


@pytest.fixture
async def browser(console_stack: ConsoleStack) -> AsyncIterator[aiohttp.ClientSession]:
    async with browser_session(console_stack) as session:
        yield session
