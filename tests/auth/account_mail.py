"""Mail for the account-token tests (verification, reset, email change).

A stack whose auth sends mail to the real mail sink (or to a port where the
sink is not running yet), and the steps a person takes with that mail: open
the newest mail to an address, follow its link. `queued_token` reads a mail
still waiting in the outbox as the sender would (decrypting it with the
stack's key set), for tests whose auth has no sender.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet, MultiFernet

from services.auth.app import create_app as create_auth
from services.gateway.app import create_app as create_gateway
from shared.mail.outbox import RetryPolicy
from shared.mail.settings import MailSettings
from tests.conftest import SECRET_KEYS, AiohttpClient, AiohttpServer, Stack
from tests.smtp import start_sink

PUBLIC_URL = "https://tollgate.example"
Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True, kw_only=True)
class MailStack:
    gateway: Client
    auth: TestServer
    sink: TestServer | None
    smtp_port: int


async def mail_stack(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    *,
    smtp_port: int | None = None,
    trust_forwarded_for: bool = False,
    **auth_changes: Any,
) -> MailStack:
    """Auth with a sender and a gateway in front of it. With `smtp_port`, no
    sink is started there (the mail server is down until the test starts one);
    with `trust_forwarded_for` the gateway takes the client IP from
    X-Forwarded-For, so a test plays clients at different addresses."""
    sink = None
    if smtp_port is None:
        sink, smtp_port = await start_sink(aiohttp_server)
    settings = replace(
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
    auth = await aiohttp_server(create_auth(settings))
    gateway_settings = replace(
        stack.gateway_settings,
        auth_url=str(auth.make_url("")).rstrip("/"),
        trust_forwarded_for=trust_forwarded_for,
        spool_dir=stack.common.data_dir / "spool-mailed",
    )
    gateway = await aiohttp_client(create_gateway(gateway_settings))
    return MailStack(gateway=gateway, auth=auth, sink=sink, smtp_port=smtp_port)


async def messages(sink: TestServer) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(sink.make_url("/api/messages")) as response:
            data: list[dict[str, Any]] = (await response.json())["data"]
            return data


async def open_mail(sink: TestServer, to: str, subject: str, *, count: int = 1) -> dict[str, Any]:
    """The newest mail to `to` whose subject has `subject`, once `count` such have come."""
    for _ in range(750):
        found = [m for m in await messages(sink) if to in m["to"] and subject in m["subject"]]
        if len(found) >= count:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no mail {subject!r} to {to} arrived")


def token_from(mail: dict[str, Any], page: str) -> str:
    """The token of the link to `page` in the mail's text (as a person copies it)."""
    for word in mail["text"].split():
        if word.startswith(PUBLIC_URL + page + "?"):
            link = urlsplit(word)
            assert f"{link.scheme}://{link.netloc}" == PUBLIC_URL
            (token,) = parse_qs(link.query)["token"]
            assert f'href="{word}"' in mail["html"]
            return str(token)
    raise AssertionError(f"no link to {page} in the mail")


def queued_mails(rows: list[Any]) -> list[dict[str, str]]:
    """Outbox rows (template, body_text) read as the sender would: decrypted with
    the stack's key set. What is in the table itself stays encrypted."""
    fernet = MultiFernet([Fernet(key) for key in SECRET_KEYS])
    return [
        {"template": row["template"], "text": fernet.decrypt(row["body_text"].encode()).decode()}
        for row in rows
    ]


async def queued_token(db: Any, template: str, *, count: int = 1) -> str:
    """The token in the newest queued mail made from `template` (waits for `count`)."""
    for _ in range(250):
        rows = await db.fetch(
            "SELECT template, body_text FROM auth.outbox WHERE template = $1 "
            "AND status = 'queued' ORDER BY id DESC",
            template,
        )
        if len(rows) >= count:
            (text,) = [m["text"] for m in queued_mails(rows[:1])]
            found = re.search(r"[?&]token=([A-Za-z0-9_-]+)", text)
            assert found is not None, f"no token in the {template} mail"
            return found.group(1)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {template} mail was queued")
