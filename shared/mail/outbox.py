"""The outbox table's SQL: queue, claim, and record how a delivery went.

A row is the whole rendered mail (subject, text, HTML), written with the
caller's connection so it commits or rolls back with the caller's action.
Claiming is a lease, not a held transaction: one statement picks due rows with
`FOR UPDATE SKIP LOCKED` (two senders never pick the same row), counts the
attempt and pushes `next_attempt_at` past the lease, so a sender that dies
mid-send leaves the row due again once the lease runs out (at least once).
After a send the row is `sent` and its bodies are blanked (a link in a mail
may hold a token); after `max_attempts` failures it is `dead`, bodies blanked
too. Errors are stored capped, and never hold a body.

The subject and bodies are encrypted at rest with the service's key set
(`MultiFernet`), so a queued mail's link (a reset or verification token) is
not readable from the table or a backup; the sender decrypts what it claims.
A row that the key set cannot decrypt (queued before encryption, or under a
key since dropped from the set) is marked dead, bodies blanked: it can never
be sent.

The table name is a constant of the calling service, never client input.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet

ERROR_MAX = 300
UNREADABLE = "cannot be decrypted with the service's key set"
_log = logging.getLogger(__name__)
_TABLE = re.compile(r"[a-z_]+\.[a-z_]+")


@dataclass(frozen=True, kw_only=True)
class Mail:
    """A rendered mail to one recipient."""

    recipient: str
    template: str
    language: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True, kw_only=True)
class Claimed:
    id: int
    mail: Mail
    attempts: int  # including this one


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    lease_seconds: float = 120.0

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: doubling, capped."""
        return min(self.cap_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))


class Outbox:
    def __init__(self, table: str, fernet: MultiFernet) -> None:
        if not _TABLE.fullmatch(table):
            raise ValueError("an outbox table is schema.name")
        self.table = table
        self._fernet = fernet

    def _seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def _open(self, value: str) -> str:
        return self._fernet.decrypt(value.encode()).decode()

    def _mail(self, row: Any) -> Mail:
        """The claimed row's mail, decrypted; InvalidToken when it cannot be."""
        return Mail(
            recipient=row["recipient"],
            template=row["template"],
            language=row["language"],
            subject=self._open(row["subject"]),
            text=self._open(row["body_text"]),
            html=self._open(row["body_html"]),
        )

    async def enqueue(self, connection: Any, mail: Mail) -> int:
        """Queue `mail` on `connection`: inside the caller's transaction, if any."""
        row_id: int = await connection.fetchval(
            f"INSERT INTO {self.table} "
            "(recipient, template, language, subject, body_text, body_html) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            mail.recipient,
            mail.template,
            mail.language,
            self._seal(mail.subject),
            self._seal(mail.text),
            self._seal(mail.html),
        )
        return row_id

    async def claim(self, db: Any, limit: int, policy: RetryPolicy) -> list[Claimed]:
        rows = await db.fetch(
            f"UPDATE {self.table} SET attempts = attempts + 1, "
            "next_attempt_at = now() + make_interval(secs => $2) "
            f"WHERE id IN (SELECT id FROM {self.table} "
            "WHERE status = 'queued' AND next_attempt_at <= now() "
            "ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, recipient, template, language, subject, body_text, body_html, attempts",
            limit,
            policy.lease_seconds,
        )
        claimed: list[Claimed] = []
        for row in sorted(rows, key=lambda r: r["id"]):
            try:
                mail = self._mail(row)
            except (InvalidToken, UnicodeError):
                _log.error("mail %s cannot be decrypted; dead", row["id"])
                await db.execute(
                    f"UPDATE {self.table} SET status = 'dead', last_error = $2, "
                    "body_text = '', body_html = '' WHERE id = $1",
                    row["id"],
                    UNREADABLE,
                )
                continue
            claimed.append(Claimed(id=row["id"], attempts=row["attempts"], mail=mail))
        return claimed

    async def sent(self, db: Any, row_id: int) -> None:
        await db.execute(
            f"UPDATE {self.table} SET status = 'sent', sent_at = now(), "
            "body_text = '', body_html = '', last_error = NULL WHERE id = $1",
            row_id,
        )

    async def failed(self, db: Any, claimed: Claimed, error: str, policy: RetryPolicy) -> bool:
        """Record a failed try: due again after the backoff, or dead. True when dead."""
        dead = claimed.attempts >= policy.max_attempts
        if dead:
            await db.execute(
                f"UPDATE {self.table} SET status = 'dead', last_error = $2, "
                "body_text = '', body_html = '' WHERE id = $1",
                claimed.id,
                error[:ERROR_MAX],
            )
        else:
            await db.execute(
                f"UPDATE {self.table} SET last_error = $2, "
                "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                claimed.id,
                error[:ERROR_MAX],
                policy.delay(claimed.attempts),
            )
        return dead

    async def depth(self, db: Any) -> int:
        """Mails queued and not yet sent (due now or later)."""
        count: int = await db.fetchval(f"SELECT count(*) FROM {self.table} WHERE status = 'queued'")
        return count
