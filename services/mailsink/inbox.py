"""What the sink received: parsed mails in memory, newest last, bounded.

The aiosmtpd handler (`Handler`) parses each message as it arrives and keeps
the sender, recipients, subject and the text and HTML parts; the oldest mail
goes when the bound is reached.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True, kw_only=True)
class Received:
    id: int
    received_at: datetime
    mail_from: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "from": self.mail_from,
            "to": list(self.to),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
        }


class Inbox:
    def __init__(self, limit: int) -> None:
        self._mails: deque[Received] = deque(maxlen=limit)
        self._ids = itertools.count(1)

    def add(self, mail_from: str, to: list[str], raw: bytes) -> Received:
        message = message_from_bytes(raw, policy=policy.default)
        received = Received(
            id=next(self._ids),
            received_at=datetime.now(UTC),
            mail_from=mail_from,
            to=tuple(to),
            subject=str(message.get("Subject", "")),
            text=_part(message, "plain"),
            html=_part(message, "html"),
        )
        self._mails.append(received)
        return received

    def newest_first(self) -> list[Received]:
        return list(reversed(self._mails))

    def clear(self) -> None:
        self._mails.clear()


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        return ""
    try:
        return str(cast(EmailMessage, body).get_content()).replace("\r\n", "\n")
    except (LookupError, ValueError):  # an unknown charset or a broken encoding
        return ""


class Handler:
    """aiosmtpd's handler: accept every recipient, keep every message."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.inbox.add(envelope.mail_from or "", list(envelope.rcpt_tos), content)
        return "250 Message accepted for delivery"
