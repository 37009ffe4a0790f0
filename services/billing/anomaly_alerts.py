"""Acting on a spend anomaly: suspend the keys, mail the user and the operators.

`spend_anomaly`'s detector queues a row in `billing.spend_anomalies` for each
anomaly with something to do; `AlertWorker`, a loop in every billing process
(rows taken with `FOR UPDATE SKIP LOCKED`, so processes share the queue),
carries each one out in one transaction:

1. each key to suspend (`ANOMALY_SUSPEND_KEY` on): auth's internal
   `POST /internal/keys/{id}/suspend` with the reason, which refuses the key
   on every gateway within a second (services/auth/key_suspension.py);
   suspending a suspended key changes nothing, so a retried row is harmless.
   The other keys named are looked up (`GET /internal/keys/{id}`) for their
   name and prefix only;
2. with `mail` (outside the account's quiet window): the user's mail
   (`spend_anomaly`, in their language, address from auth's
   `/internal/users/{id}/contact`, as the low-balance alert) and one
   `spend_anomaly_operator` mail to each administrator (auth's
   `/internal/admins/contacts`: Tollgate has no separate operator address;
   the administrators are the operators), each in its reader's language,
   into billing.outbox, and the sender is woken;
3. the row is marked done.

Auth away: nothing is mailed, the row waits and is tried again with a
backoff (the suspensions already made stay; they are repeated harmlessly).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from services.billing.low_balance import OUTBOX, PUBLIC_URL
from services.billing.user_directory import USER_DIRECTORY, Contact
from shared.errors import ServiceUnavailable
from shared.internal import TOKEN_HEADER
from shared.mail import templates
from shared.mail.sender import MAIL_SENDER
from shared.mail.templates import Link
from shared.service import DB
from shared.tasks import finish_within, spawn

_log = logging.getLogger(__name__)
KEYS_PAGE = "/keys"
ADMIN_USERS_PAGE = "/admin/users"  # the console's account page for administrators
BATCH = 20
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 600.0
_UNAVAILABLE = "the auth service is unavailable"


@dataclass(frozen=True, kw_only=True)
class KeyFacts:
    """What a mail says of a key: auth's name and prefix, and whether it is suspended."""

    key_id: uuid.UUID
    name: str
    prefix: str
    suspended: bool


class AuthKeys:
    """Auth's internal key endpoints and its list of administrators."""

    def __init__(self, session: aiohttp.ClientSession, auth_url: str, token: str) -> None:
        self._session = session
        self._auth_url = auth_url
        self._token = token

    async def suspend(self, key_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> KeyFacts | None:
        body = await self._call(
            "POST",
            f"/internal/keys/{key_id}/suspend",
            {"user_id": str(user_id), "reason": reason},
        )
        return None if body is None else _facts(body)

    async def key(self, key_id: uuid.UUID) -> KeyFacts | None:
        body = await self._call("GET", f"/internal/keys/{key_id}", None)
        return None if body is None else _facts(body)

    async def admins(self) -> list[Contact]:
        body = await self._call("GET", "/internal/admins/contacts", None)
        try:
            return [
                Contact(email=str(a["email"]), name=str(a["name"]), language=str(a["language"]))
                for a in (body or {})["data"]
            ]
        except (KeyError, TypeError) as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc

    async def _call(self, method: str, path: str, payload: Any) -> Any:
        """Auth's JSON answer; None on 404; `ServiceUnavailable` when it cannot say."""
        try:
            async with self._session.request(
                method,
                f"{self._auth_url}{path}",
                json=payload,
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                if response.status == 404:
                    return None
                if response.status == 200:
                    return await response.json()
                _log.warning("auth refused an anomaly call", extra={"status": response.status})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        raise ServiceUnavailable(_UNAVAILABLE)


def _facts(body: Any) -> KeyFacts:
    try:
        return KeyFacts(
            key_id=uuid.UUID(str(body["key_id"])),
            name=str(body["name"]),
            prefix=str(body["prefix"]),
            suspended=body["suspended_at"] is not None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ServiceUnavailable(_UNAVAILABLE) from exc


def _amount(value: Decimal) -> str:
    """Money in a mail, in cents (the ledger keeps every digit)."""
    return format(value.quantize(Decimal("0.01")), "f")


def reason(spent: Decimal, usual: Decimal) -> str:
    """The suspension's reason, as the key's owner reads it in the 403 and the key list."""
    return (
        f"spend anomaly: {_amount(spent)} USD in an hour, "
        f"usually {_amount(usual)} USD an hour; resume the key if this was you"
    )


class AlertWorker:
    """Carries out queued anomalies; see the module docstring."""

    def __init__(
        self, app: web.Application, auth: AuthKeys, poll_seconds: float, quiet_hours: int
    ) -> None:
        self._app = app
        self._auth = auth
        self._poll = poll_seconds
        self._quiet_hours = quiet_hours
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                done = await self.work_due()
            except Exception:  # the database is away: keep the loop, try again later
                _log.exception("spend anomaly worker: could not read the queue")
                done = 0
            if done == 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), self._poll)
                except TimeoutError:
                    pass

    async def work_due(self) -> int:
        """Carry out the due anomalies; how many were done."""
        done = mailed = 0
        db: Any = self._app[DB]
        async with db.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "SELECT id, user_id, spent, usual, keys, suspend_keys, mail, attempts "
                "FROM billing.spend_anomalies WHERE pending AND next_attempt_at <= now() "
                "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                BATCH,
            )
            for row in rows:
                try:
                    mailed += await self._carry_out(connection, row)
                except ServiceUnavailable:
                    await self._later(connection, row)
                    continue
                await connection.execute(
                    "UPDATE billing.spend_anomalies SET pending = false, done_at = now() "
                    "WHERE id = $1",
                    row["id"],
                )
                done += 1
        sender = self._app.get(MAIL_SENDER)
        if mailed and sender is not None:
            sender.wake()
        return done

    async def _later(self, connection: Any, row: Any) -> None:
        delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2.0 ** row["attempts"])
        await connection.execute(
            "UPDATE billing.spend_anomalies SET attempts = attempts + 1, "
            "next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
            row["id"],
            delay,
        )
        _log.warning("spend anomaly %s waits: auth did not answer", row["id"])

    async def _carry_out(self, connection: Any, row: Any) -> int:
        """Suspend, then queue the mails; how many mails were queued."""
        user_id: uuid.UUID = row["user_id"]
        why = reason(row["spent"], row["usual"])
        to_suspend = set(row["suspend_keys"])
        keys = []
        for named in row["keys"]:
            key_id = uuid.UUID(named["key_id"])
            if key_id in to_suspend:
                facts = await self._auth.suspend(key_id, user_id, why)
            else:
                facts = await self._auth.key(key_id)
            keys.append(_key_line(key_id, Decimal(named["spent"]), facts))
        if not row["mail"]:
            return 0
        user = await self._app[USER_DIRECTORY].contact(user_id)
        admins = await self._auth.admins()
        figures = {
            "spent": _amount(row["spent"]),
            "usual": _amount(row["usual"]),
            "currency": "USD",
            "keys": keys,
            "suspended": any(key["suspended"] for key in keys),
            "quiet_hours": self._quiet_hours,
        }
        queued = 0
        if user is not None:
            await self._enqueue(
                connection,
                "spend_anomaly",
                user,
                {**figures, "name": user.name},
                Link(path=KEYS_PAGE, query={}),
            )
            queued += 1
        for admin in admins:
            if user is not None and admin.email == user.email:
                continue  # an administrator's own account: the user's mail says it all
            context = {
                **figures,
                "name": admin.name,
                "user_id": str(user_id),
                "user_email": "-" if user is None else user.email,
            }
            account_page = Link(path=f"{ADMIN_USERS_PAGE}/{user_id}", query={})
            await self._enqueue(connection, "spend_anomaly_operator", admin, context, account_page)
            queued += 1
        return queued

    async def _enqueue(
        self, connection: Any, template: str, to: Contact, context: dict[str, Any], link: Link
    ) -> None:
        mail = templates.render(
            template,
            recipient=to.email,
            language=to.language,
            public_url=self._app[PUBLIC_URL],
            context=context,
            link=link,
        )
        await self._app[OUTBOX].enqueue(connection, mail)


def _key_line(key_id: uuid.UUID, spent: Decimal, facts: KeyFacts | None) -> dict[str, Any]:
    """One key as the templates list it (a key auth no longer knows: its id)."""
    return {
        "name": str(key_id) if facts is None else facts.name,
        "prefix": "" if facts is None else facts.prefix,
        "spent": _amount(spent),
        "suspended": facts is not None and facts.suspended,
    }


ALERT_WORKER = web.AppKey("spend_anomaly_worker", AlertWorker)


def working(
    auth_url: str, token: str, poll_seconds: float, quiet_hours: int
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context running the app's anomaly worker (after the DB pool exists)."""

    async def run_worker(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            worker = AlertWorker(app, AuthKeys(session, auth_url, token), poll_seconds, quiet_hours)
            app[ALERT_WORKER] = worker
            task = spawn(worker.run(), name="spend-anomaly-worker")
            yield
            worker.stop()
            await finish_within(task, 5.0)

    return run_worker
