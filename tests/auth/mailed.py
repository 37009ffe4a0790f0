"""A gateway over an auth that sends its mail to the real mail sink over SMTP.

`mailed_stack` starts the sink, an auth with mail settings (and any other
settings a test changes) beside the stack's, and a gateway over that auth
which takes the client IP from X-Forwarded-For, so a test plays clients at
different addresses and reads what each person was mailed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.auth.app import create_app as create_auth
from services.gateway.app import create_app as create_gateway
from shared.mail.outbox import RetryPolicy
from shared.mail.settings import MailSettings
from tests.conftest import AiohttpClient, AiohttpServer, Stack
from tests.smtp import start_sink

PUBLIC_URL = "https://tollgate.example"
Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True, kw_only=True)
class Mailed:
    gateway: Client
    auth: TestServer
    sink: TestServer

    async def messages(self) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.get(self.sink.make_url("/api/messages")) as response:
                data: list[dict[str, Any]] = (await response.json())["data"]
                return data

    async def mails_to(
        self, address: str, count: int = 1, subject: str | None = None
    ) -> list[dict[str, Any]]:
        """Wait until `address` has at least `count` mails (with `subject`); newest first."""
        for _ in range(500):
            found = [
                m
                for m in await self.messages()
                if address in m["to"] and subject in (None, m["subject"])
            ]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} mail(s) to {address} never arrived")

    async def settle(self, db: Any) -> None:
        """Until auth's outbox holds nothing unsent: every queued mail is at the sink."""
        for _ in range(500):
            if await db.fetchval("SELECT count(*) FROM auth.outbox WHERE status <> 'sent'") == 0:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("auth's outbox never emptied")


async def mailed_stack(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    **auth_changes: Any,
) -> Mailed:
    sink, smtp_port = await start_sink(aiohttp_server)
    auth_settings = replace(
        stack.auth_settings,
        public_url=PUBLIC_URL,
        mail=MailSettings(
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            poll_seconds=0.05,
            retry=RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=1000),
        ),
        **auth_changes,
    )
    auth = await aiohttp_server(create_auth(auth_settings))
    gateway_settings = replace(
        stack.gateway_settings,
        auth_url=str(auth.make_url("")).rstrip("/"),
        trust_forwarded_for=True,
        spool_dir=stack.common.data_dir / "spool-mailed",
    )
    gateway = await aiohttp_client(create_gateway(gateway_settings))
    return Mailed(gateway=gateway, auth=auth, sink=sink)
