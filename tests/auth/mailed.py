"""A gateway over an auth that sends its mail to the real mail sink over SMTP.

`mailed_stack` is `account_mail.mail_stack` with a gateway that takes the
client IP from X-Forwarded-For, so a test plays clients at different
addresses and reads what each person was mailed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestServer

from tests.auth.account_mail import PUBLIC_URL, Client, mail_stack, messages
from tests.conftest import AiohttpClient, AiohttpServer, Stack

__all__ = ["PUBLIC_URL", "Client", "Mailed", "mailed_stack"]


@dataclass(frozen=True, kw_only=True)
class Mailed:
    gateway: Client
    auth: TestServer
    sink: TestServer

    async def messages(self) -> list[dict[str, Any]]:
        return await messages(self.sink)

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
    started = await mail_stack(
        stack, aiohttp_server, aiohttp_client, trust_forwarded_for=True, **auth_changes
    )
    assert started.sink is not None
    return Mailed(gateway=started.gateway, auth=started.auth, sink=started.sink)
