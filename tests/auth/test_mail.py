"""Auth's mail: the language on the profile, and a mail queued by auth's code
path arriving at the mail sink over real SMTP, links from the public URL."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from services.auth import mail
from services.auth.app import create_app as create_auth
from shared.mail.outbox import RetryPolicy
from shared.mail.sender import MAIL_SENDER
from shared.mail.settings import MailSettings
from shared.mail.templates import Link
from shared.metrics import METRICS
from shared.service import DB as DB_KEY
from tests.accounts import sign_up
from tests.conftest import AiohttpServer, Stack
from tests.smtp import start_sink

PUBLIC_URL = "https://tollgate.example"


async def test_the_profile_has_a_language_for_mail(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    me = await (await stack.gateway.get("/api/me", headers=account.headers)).json()
    assert me["language"] == "en"
    changed = await stack.gateway.patch(
        "/api/me", json={"language": "zh-CN"}, headers=account.headers
    )
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["language"] == "zh-CN"
    refused = await stack.gateway.patch("/api/me", json={"language": "fr"}, headers=account.headers)
    assert refused.status == 422
    assert "language" in await refused.text()
    me = await (await stack.gateway.get("/api/me", headers=account.headers)).json()
    assert me["language"] == "zh-CN"


async def _auth_with_mail(stack: Stack, aiohttp_server: AiohttpServer, smtp_port: int) -> Any:
    settings = replace(
        stack.auth_settings,
        public_url=PUBLIC_URL,
        mail=MailSettings(
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            poll_seconds=0.05,
            retry=RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=1000),
        ),
    )
    return await aiohttp_server(create_auth(settings))


async def _user(stack: Stack, db: Any, language: str) -> uuid.UUID:
    account = await sign_up(stack.gateway)
    user_id = uuid.UUID(account.id)
    await mail.set_language(db, user_id, language)
    await db.execute("DELETE FROM auth.outbox")  # the sign-up's own verification mail
    return user_id


async def _queue(auth: TestServer, user_id: uuid.UUID, token: str) -> None:
    pool: Any = auth.app[DB_KEY]
    async with pool.acquire() as connection, connection.transaction():
        await mail.queue_to_user(
            auth.app,
            connection,
            user_id,
            "verify_email",
            {"hours": 24},
            Link(path="/verify-email", query={"token": token}),
        )
    mail.wake(auth.app)


async def _messages(sink: TestServer) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(sink.make_url("/api/messages")) as response:
            data: list[dict[str, Any]] = (await response.json())["data"]
            return data


async def _arrived(sink: TestServer, count: int) -> list[dict[str, Any]]:
    for _ in range(750):
        messages = await _messages(sink)
        if len(messages) >= count:
            return messages
        await asyncio.sleep(0.02)
    raise AssertionError("the mail never arrived")


async def test_a_mail_queued_by_auth_arrives_in_the_users_language(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer
) -> None:
    sink, smtp_port = await start_sink(aiohttp_server)
    user_id = await _user(stack, db, "zh-CN")  # before a sender runs
    auth = await _auth_with_mail(stack, aiohttp_server, smtp_port)
    await _queue(auth, user_id, "tok123")
    (received,) = await _arrived(sink, 1)
    assert received["subject"] == "验证您在 Tollgate 的邮箱"
    assert f"{PUBLIC_URL}/verify-email?token=tok123" in received["text"]
    assert f'href="{PUBLIC_URL}/verify-email?token=tok123"' in received["html"]
    row = await db.fetchrow("SELECT status, body_text FROM auth.outbox")
    for _ in range(250):  # the row is marked just after the sink answered
        if row["status"] == "sent":
            break
        await asyncio.sleep(0.02)
        row = await db.fetchrow("SELECT status, body_text FROM auth.outbox")
    assert tuple(row) == ("sent", "")
    assert auth.app[MAIL_SENDER] is not None
    scraped = _scrape(auth)
    assert "tollgate_mail_sent_total 1.0" in scraped
    assert "tollgate_mail_queue_depth" in scraped


def _scrape(server: TestServer) -> str:
    from prometheus_client.exposition import generate_latest

    return generate_latest(server.app[METRICS].registry).decode()


async def test_with_the_sink_stopped_queueing_is_immediate_and_the_mail_goes_out_later(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer
) -> None:
    from tests.ports import free_ports

    (smtp_port,) = free_ports(1)
    user_id = await _user(stack, db, "en")  # before a sender runs
    auth = await _auth_with_mail(stack, aiohttp_server, smtp_port)
    await _queue(auth, user_id, "later")  # returns without the mail server
    assert await db.fetchval("SELECT count(*) FROM auth.outbox WHERE status = 'queued'") == 1
    for _ in range(750):  # the sender has tried and failed at least once
        if (await db.fetchval("SELECT attempts FROM auth.outbox")) >= 1:
            break
        await asyncio.sleep(0.02)
    sink, _ = await start_sink(aiohttp_server, smtp_port=smtp_port)
    (received,) = await _arrived(sink, 1)
    assert received["subject"] == "Verify your email for Tollgate"
    assert f"{PUBLIC_URL}/verify-email?token=later" in received["text"]
