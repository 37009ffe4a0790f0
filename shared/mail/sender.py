"""The sender: a background loop delivering a service's outbox over SMTP.

It claims due rows (`outbox.claim`, a lease with SKIP LOCKED, so several
processes of one service share the work and each mail goes out once per
successful send), sends each with aiosmtplib (TLS, STARTTLS or plain, with
a login when configured), then marks it sent, or due again after a doubling
backoff, or dead after the configured number of tries. It runs beside the
service's requests and never inside one: a request only writes the row, then
may `wake` the sender so the mail leaves without waiting for the next poll.
A mail server that is down only delays mail; the queue waits in PostgreSQL.

Log lines name the row id, the SMTP reply code and the error's class, never a
recipient or a body.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import aiosmtplib
from aiohttp import web

from shared.mail.metrics import MailMetrics
from shared.mail.outbox import Claimed, Outbox
from shared.mail.settings import MailSettings
from shared.metrics import METRICS
from shared.service import DB
from shared.tasks import finish_within, spawn

_log = logging.getLogger(__name__)
BATCH = 20
STOP_GRACE_SECONDS = 5.0


def build_message(claimed: Claimed, settings: MailSettings) -> EmailMessage:
    """The MIME message; ValueError for a header that cannot be written (a newline)."""
    mail = claimed.mail
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=f"outbox-{claimed.id}", domain=domain)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


def describe(exc: BaseException) -> str:
    """What is stored as the row's last error: the class and the server's reply."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({str(refused.code) for refused in exc.recipients})
        return f"SMTPRecipientsRefused: {', '.join(codes)}"
    return f"{type(exc).__name__}: {exc}"


class MailSender:
    def __init__(
        self, db: Any, outbox: Outbox, settings: MailSettings, metrics: MailMetrics
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._settings = settings
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._stopping = False
        self._local_hostname = socket.gethostname() or "localhost"

    def wake(self) -> None:
        """Look at the outbox now (after a commit that queued mail)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                delivered = await self.deliver_due()
            except Exception:  # the database is away: keep the loop, try again later
                _log.exception("mail sender: could not read the outbox")
                delivered = 0
            if delivered == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
                except TimeoutError:
                    pass

    async def deliver_due(self) -> int:
        """Claim and try every due mail (a batch at a time); how many were tried."""
        tried = 0
        while not self._stopping:
            batch = await self._outbox.claim(self._db, BATCH, self._settings.retry)
            for claimed in batch:
                await self._deliver(claimed)
            tried += len(batch)
            if len(batch) < BATCH:
                break
        self._metrics.queue_depth.set(await self._outbox.depth(self._db))
        return tried

    async def _deliver(self, claimed: Claimed) -> None:
        policy = self._settings.retry
        try:
            message = build_message(claimed, self._settings)
        except ValueError:
            _log.error("mail %s cannot be written as a message; dead", claimed.id)
            unsendable = Claimed(id=claimed.id, mail=claimed.mail, attempts=policy.max_attempts)
            await self._outbox.failed(self._db, unsendable, "unwritable header", policy)
            self._metrics.failed.labels("dead").inc()
            return
        try:
            await self._send(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            dead = await self._outbox.failed(self._db, claimed, describe(exc), policy)
            code = getattr(exc, "code", "-")
            _log.warning(
                "mail %s not delivered (try %d, %s %s)%s",
                claimed.id,
                claimed.attempts,
                type(exc).__name__,
                code,
                "; dead" if dead else "",
            )
            self._metrics.failed.labels("dead" if dead else "retry").inc()
            return
        await self._outbox.sent(self._db, claimed.id)
        self._metrics.sent.labels().inc()

    async def _send(self, message: EmailMessage) -> None:
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            cert_bundle=s.smtp_ca_file,
            local_hostname=self._local_hostname,
            timeout=s.timeout_seconds,
        )


MAIL_SENDER = web.AppKey("mail_sender", MailSender)


def sender_context(
    outbox: Outbox, settings: MailSettings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the app's sender (after the DB pool exists)."""

    async def run_sender(app: web.Application) -> AsyncIterator[None]:
        sender = MailSender(app[DB], outbox, settings, MailMetrics(app[METRICS].registry))
        app[MAIL_SENDER] = sender
        task = spawn(sender.run(), name=f"mail-sender-{outbox.table}")
        yield
        sender.stop()
        # A send still in flight past the grace: it stays queued and is retried later.
        await finish_within(task, STOP_GRACE_SECONDS)

    return run_sender
