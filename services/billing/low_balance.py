"""The low-balance alert: a user's threshold, one mail per crossing (DESIGN 12).

- The threshold is the account's (`billing.accounts.low_balance_threshold`,
  NULL: off), set by the signed-in user with `PUT /api/billing/alert`
  (`{"threshold": "5.00"}` or `{"threshold": null}`) and read with
  `GET /api/billing/alert`. The balance compared is the ledger's, less the
  account's floor (holds in flight live in Redis, outside the transaction).
- Crossing: `mark_crossings` runs in a usage charge's own transaction, after
  the balances moved. One conditional UPDATE sets `low_balance_alerted` on
  every charged account now below its threshold and not marked yet, and the
  same statement queues one alert per account it marked. The accounts are
  locked by the charge, and the UPDATE's `NOT low_balance_alerted` is
  re-checked on the newest row anyway, so concurrent charges across the
  threshold queue exactly one alert.
- Clearing: any movement that leaves the balance at or above the threshold
  (a top-up, a redemption, an admin credit) clears the mark; a trigger on
  the accounts table does it (migration 0008), so no credit path can forget.
  The next crossing mails again.
- Setting a threshold clears the mark too. A threshold set above the current
  balance mails at the next charge, not at once: the mail goes out in a
  charge's transaction, and setting a number is not a charge.
- The mail: billing knows users only by id; the address, language and name
  are auth's. So the charge queues an alert row (`billing.low_balance_alerts`)
  and `AlertMailer`, a loop in billing, asks auth
  (`GET /internal/users/{id}/contact`) when it renders the mail, writes it to
  `billing.outbox` and deletes the alert in one transaction (one alert, one
  queued mail), and wakes billing's sender (shared/mail/sender.py). Auth away:
  the alert waits and is tried again with a backoff; the charge never waits.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.billing import ledger
from services.billing.money_fields import decimal_string, money
from services.billing.user_directory import USER_DIRECTORY
from shared.bodies import Fields, read_object
from shared.errors import Forbidden, ServiceUnavailable
from shared.internal import caller
from shared.mail import templates
from shared.mail.outbox import Outbox
from shared.mail.sender import MAIL_SENDER
from shared.mail.templates import Link
from shared.service import DB
from shared.tasks import finish_within, spawn

_log = logging.getLogger(__name__)
OUTBOX = web.AppKey("billing_outbox", Outbox)
PUBLIC_URL = web.AppKey("billing_public_url", str)
TOPUP_PATH = "/billing/topup"
MAX_THRESHOLD = Decimal(1_000_000)
BATCH = 20
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 600.0
_FIELDS = frozenset({"threshold"})


# ---- in the charge's transaction -------------------------------------------------------


async def mark_crossings(connection: Any, user_ids: Sequence[uuid.UUID]) -> int:
    """Mark every listed account now below its threshold and not marked yet,
    and queue one alert for each; how many were queued. Call inside the
    charge's transaction, after its balances moved."""
    if not user_ids:
        return 0
    queued: int = await connection.fetchval(
        "WITH crossed AS ("
        " UPDATE billing.accounts SET low_balance_alerted = true"
        " WHERE kind = 'user' AND user_id = ANY($1::uuid[])"
        " AND low_balance_threshold IS NOT NULL AND NOT low_balance_alerted"
        " AND balance - floor < low_balance_threshold"
        " RETURNING user_id, low_balance_threshold, balance, currency),"
        " queued AS ("
        " INSERT INTO billing.low_balance_alerts (user_id, threshold, balance, currency)"
        " SELECT user_id, low_balance_threshold, balance, currency FROM crossed RETURNING 1)"
        " SELECT count(*) FROM queued",
        sorted(set(user_ids)),
    )
    return queued


# ---- the API ---------------------------------------------------------------------------


async def _alert_json(db: Any, user_id: uuid.UUID) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT low_balance_threshold, low_balance_alerted, balance, floor, currency "
        "FROM billing.accounts WHERE kind = 'user' AND user_id = $1",
        user_id,
    )
    threshold = None if row is None else row["low_balance_threshold"]
    return {
        "threshold": None if threshold is None else money(threshold),
        # True: the balance fell below the threshold and the mail went (or is going) out.
        "alerted": bool(row and row["low_balance_alerted"]),
        "below": bool(
            threshold is not None and row is not None and row["balance"] - row["floor"] < threshold
        ),
        "currency": "USD" if row is None else row["currency"],
    }


async def get_alert(request: web.Request) -> web.Response:
    user_id = caller(request).require_user()
    return web.json_response(await _alert_json(request.app[DB], user_id))


async def put_alert(request: web.Request) -> web.Response:
    """Set the threshold (`"5.00"`) or turn the alert off (`null`); a login only."""
    who = caller(request)
    user_id = who.require_user()
    if who.credential == "api_key":  # the gateway already refuses it; said again here
        raise Forbidden("the alert is set when signed in, not with an API key")
    body = await read_object(request)
    fields = Fields(body)
    fields.refuse_unknown(_FIELDS)
    if "threshold" not in body:
        fields.problems.append('threshold: required ("5.00", or null to turn the alert off)')
    threshold = decimal_string(
        body, "threshold", fields.problems, places=12, whole_digits=10, required=False
    )
    if threshold is not None and threshold > MAX_THRESHOLD:
        fields.problems.append(f"threshold: at most {money(MAX_THRESHOLD)}")
    fields.check()
    db: Any = request.app[DB]
    async with db.acquire() as connection, connection.transaction():
        account = await ledger.user_account(connection, user_id)
        await connection.execute(
            "UPDATE billing.accounts SET low_balance_threshold = $2, low_balance_alerted = false "
            "WHERE id = $1",
            account,
            threshold,
        )
    return web.json_response(await _alert_json(db, user_id))


# ---- the mailer ------------------------------------------------------------------------


def _amount(value: Decimal) -> str:
    """Money in a mail: cents (a threshold or balance with more places is rounded
    for reading only; the ledger keeps every digit)."""
    return format(value.quantize(Decimal("0.01")), "f")


class AlertMailer:
    """Turns queued alerts into mails in billing.outbox; see the module docstring."""

    def __init__(self, app: web.Application, poll_seconds: float) -> None:
        self._app = app
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                queued = await self.mail_due()
            except Exception:  # the database is away: keep the loop, try again later
                _log.exception("low-balance mailer: could not read the alerts")
                queued = 0
            if queued == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                except TimeoutError:
                    pass

    async def mail_due(self) -> int:
        """Render the due alerts into billing.outbox; how many mails were queued."""
        app = self._app
        queued = 0
        db: Any = app[DB]
        async with db.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "SELECT id, user_id, threshold, balance, currency, attempts "
                "FROM billing.low_balance_alerts WHERE next_attempt_at <= now() "
                "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                BATCH,
            )
            for row in rows:
                queued += await self._mail_one(connection, row)
        if queued:
            sender = app.get(MAIL_SENDER)
            if sender is not None:
                sender.wake()
        return queued

    async def _mail_one(self, connection: Any, row: Any) -> int:
        app = self._app
        try:
            contact = await app[USER_DIRECTORY].contact(row["user_id"])
        except ServiceUnavailable:  # auth away: the alert waits, tried again after a backoff
            delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2.0 ** row["attempts"])
            await connection.execute(
                "UPDATE billing.low_balance_alerts SET attempts = attempts + 1, "
                "next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
                row["id"],
                delay,
            )
            _log.warning("low-balance alert %s waits: auth did not answer", row["id"])
            return 0
        await connection.execute("DELETE FROM billing.low_balance_alerts WHERE id = $1", row["id"])
        if contact is None:  # the user is gone: nobody to tell
            return 0
        mail = templates.render(
            "low_balance",
            recipient=contact.email,
            language=contact.language,
            public_url=app[PUBLIC_URL],
            context={
                "name": contact.name,
                "threshold": _amount(row["threshold"]),
                "balance": _amount(row["balance"]),
                "currency": row["currency"],
            },
            link=Link(path=TOPUP_PATH, query={}),
        )
        await app[OUTBOX].enqueue(connection, mail)
        return 1


ALERT_MAILER = web.AppKey("low_balance_mailer", AlertMailer)


def mailing(poll_seconds: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context running the app's alert mailer (after the DB pool exists)."""

    async def run_mailer(app: web.Application) -> AsyncIterator[None]:
        mailer = AlertMailer(app, poll_seconds)
        app[ALERT_MAILER] = mailer
        task = spawn(mailer.run(), name="low-balance-mailer")
        yield
        mailer.stop()
        await finish_within(task, 5.0)

    return run_mailer
