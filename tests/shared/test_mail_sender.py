"""The outbox and its sender over real PostgreSQL and real SMTP servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet, MultiFernet
from prometheus_client import CollectorRegistry

from shared.mail.metrics import MailMetrics
from shared.mail.outbox import Mail, Outbox, RetryPolicy
from shared.mail.sender import MailSender
from shared.mail.settings import MailSettings
from shared.tasks import spawn
from tests.ports import free_ports
from tests.smtp import AiohttpServer, Keeping, Refusing, self_signed, smtp_server, start_sink

OUTBOX = Outbox("auth.outbox", MultiFernet([Fernet(Fernet.generate_key())]))


def _mail(n: int = 0) -> Mail:
    return Mail(
        recipient=f"user{n}@example.com",
        template="notice",
        language="en",
        subject=f"mail {n}",
        text=f"text {n} https://t.example/x?token=secret{n}",
        html=f"<p>html {n}</p>",
    )


def _settings(port: int, **changes: Any) -> MailSettings:
    retry = changes.pop("retry", RetryPolicy(max_attempts=3, base_seconds=30, lease_seconds=60))
    return MailSettings(
        smtp_host="127.0.0.1", smtp_port=port, retry=retry, poll_seconds=0.05, **changes
    )


@pytest.fixture
async def pool(database_url: str, db: Any) -> AsyncIterator[Any]:
    created: Any = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


def _sender(pool: Any, settings: MailSettings) -> tuple[MailSender, MailMetrics]:
    metrics = MailMetrics(CollectorRegistry())
    return MailSender(pool, OUTBOX, settings, metrics), metrics


async def test_a_mail_queued_in_a_rolled_back_transaction_does_not_exist(db: Any) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await OUTBOX.enqueue(db, _mail(1))
            raise RuntimeError("the action failed")
    async with db.transaction():
        await OUTBOX.enqueue(db, _mail(2))
    rows = await db.fetch("SELECT subject, status, attempts FROM auth.outbox")
    assert [tuple(r)[1:] for r in rows] == [("queued", 0)]
    assert rows[0]["subject"] != "mail 2"  # encrypted at rest
    (claimed,) = await OUTBOX.claim(db, 10, RetryPolicy())
    assert claimed.mail == _mail(2)


async def test_the_outbox_holds_no_mail_in_clear_and_an_unreadable_row_dies(db: Any) -> None:
    await OUTBOX.enqueue(db, _mail(3))
    row = await db.fetchrow("SELECT subject, body_text, body_html FROM auth.outbox")
    assert all("mail 3" not in v and "secret" not in v and "html" not in v for v in row.values())
    other = Outbox("auth.outbox", MultiFernet([Fernet(Fernet.generate_key())]))
    assert await other.claim(db, 10, RetryPolicy()) == []
    row = await db.fetchrow("SELECT status, body_text, body_html, last_error FROM auth.outbox")
    assert tuple(row)[:3] == ("dead", "", "")
    assert "decrypted" in row["last_error"]


async def test_two_senders_deliver_each_mail_once(
    pool: Any, db: Any, aiohttp_server: AiohttpServer
) -> None:
    server, port = await start_sink(aiohttp_server)
    for n in range(45):
        await OUTBOX.enqueue(db, _mail(n))
    (one, one_metrics), (two, two_metrics) = (
        _sender(pool, _settings(port)),
        _sender(pool, _settings(port)),
    )
    tried = await asyncio.gather(one.deliver_due(), two.deliver_due())
    assert sum(tried) == 45
    subjects = sorted(m["subject"] for m in (await _messages(server)))
    assert subjects == sorted(f"mail {n}" for n in range(45))
    rows = await db.fetch("SELECT status, attempts, body_text, body_html FROM auth.outbox")
    assert {tuple(r) for r in rows} == {("sent", 1, "", "")}  # bodies gone once sent
    assert one_metrics.sent.labels().value + two_metrics.sent.labels().value == 45
    assert await one.deliver_due() == 0  # depth is read after a pass: in-flight mail counts
    assert one_metrics.queue_depth._value.get() == 0


async def _messages(server: Any) -> list[dict[str, Any]]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(server.make_url("/api/messages")) as response:
            data: list[dict[str, Any]] = (await response.json())["data"]
            return data


async def _make_due(db: Any) -> None:
    await db.execute("UPDATE auth.outbox SET next_attempt_at = now() WHERE status = 'queued'")


async def test_a_refused_mail_is_retried_with_backoff_then_dead(pool: Any, db: Any) -> None:
    handler = Refusing()
    async with smtp_server(handler) as port:
        sender, metrics = _sender(pool, _settings(port))
        await OUTBOX.enqueue(db, _mail())
        assert await sender.deliver_due() == 1
        row = await db.fetchrow(
            "SELECT status, attempts, last_error, next_attempt_at - now() AS wait FROM auth.outbox"
        )
        assert (row["status"], row["attempts"]) == ("queued", 1)
        assert "451" in row["last_error"] and "secret" not in row["last_error"]
        assert row["wait"].total_seconds() > 20  # the first backoff (30 s), not due yet
        assert await sender.deliver_due() == 0  # not due: nothing tried
        assert handler.tries == 1
        await _make_due(db)
        await sender.deliver_due()
        wait = await db.fetchval("SELECT next_attempt_at - now() FROM auth.outbox")
        assert wait.total_seconds() > 50  # doubled
        await _make_due(db)
        await sender.deliver_due()
    row = await db.fetchrow("SELECT status, attempts, body_text, body_html FROM auth.outbox")
    assert tuple(row) == ("dead", 3, "", "")
    assert handler.tries == 3
    assert metrics.failed.labels("retry").value == 2
    assert metrics.failed.labels("dead").value == 1
    assert metrics.sent.labels().value == 0


def test_the_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=30, cap_seconds=3600)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert policy.delay(20) == 3600


async def test_with_the_server_down_mail_waits_and_leaves_once_it_returns(
    pool: Any, db: Any, aiohttp_server: AiohttpServer
) -> None:
    (port,) = free_ports(1)
    retry = RetryPolicy(max_attempts=1000, base_seconds=0.05, cap_seconds=0.2, lease_seconds=5)
    sender, metrics = _sender(pool, _settings(port, retry=retry))
    task = spawn(sender.run(), name="test-sender")
    try:
        async with db.transaction():
            await OUTBOX.enqueue(db, _mail(7))
        sender.wake()
        await _until(lambda: metrics.failed.labels("retry").value >= 2)
        assert await db.fetchval("SELECT status FROM auth.outbox") == "queued"
        server, _ = await start_sink(aiohttp_server, smtp_port=port)
        await _until_async(lambda: _status(db), "sent")
        assert [m["subject"] for m in await _messages(server)] == ["mail 7"]
    finally:
        sender.stop()
        await task


async def _status(db: Any) -> str:
    status: str = await db.fetchval("SELECT status FROM auth.outbox")
    return status


async def _until(check: Any, seconds: float = 15) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def _until_async(read: Any, wanted: Any, seconds: float = 15) -> None:
    for _ in range(int(seconds / 0.02)):
        if await read() == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never became {wanted!r}")


async def test_starttls_with_a_login(pool: Any, db: Any, tmp_path: Path) -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    context, cert_file = self_signed(tmp_path)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret")

    handler = Keeping()
    async with smtp_server(
        handler,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    ) as port:
        plain, plain_metrics = _sender(pool, _settings(port))
        await OUTBOX.enqueue(db, _mail(1))
        await plain.deliver_due()  # the server insists on STARTTLS
        assert plain_metrics.failed.labels("retry").value == 1 and handler.messages == []
        await _make_due(db)
        secure, secure_metrics = _sender(
            pool,
            _settings(
                port,
                smtp_tls="starttls",
                smtp_ca_file=str(cert_file),
                smtp_username="tollgate",
                smtp_password="s3cret",
            ),
        )
        await secure.deliver_due()
    assert secure_metrics.sent.labels().value == 1
    assert logins == [(b"tollgate", b"s3cret")]
    assert len(handler.messages) == 1 and b"Subject: mail 1" in handler.messages[0]
