"""Sign-in links: the further proof asked of a login from an unknown source when
its account is under attack from many sources and has no second factor.

- When: past the account's failure limit over all sources (`throttle`), from a
  source the account has not signed up or logged in from in
  `LOGIN_KNOWN_SOURCE_DAYS`, with TOTP off (with TOTP on the second factor is
  asked instead: `totp_handlers.blind_challenge`).
- Blind, like the second factor: every password gets the same 403
  `additional_verification_required`, saying that if the password is right a
  link was mailed to the account's address, so the answer tells a distributed
  guesser nothing. A wrong password counts as a failure and is recorded
  (`login_failed`); the right one is told apart by nothing the client sees: the
  mail is queued after the answer, in a background task. A login naming no
  account answers the same, after a password check of the same cost.
- The right password mails the account's address (`sign_in_link`, in the
  user's language: the IP and browser that signed in, and what to do if it was
  not the owner) a one-time link to the console's `/sign-in-link?token=...`;
  at most one mail per 5 minutes and ten a day per account
  (`mail_throttle.SIGN_IN_LINK`; past that nothing is sent, and the answer is
  the same). It records `login_link_sent`. The token (`account_tokens`): 256
  random bits, only its SHA-256 stored, single use, 15 minutes, void once the
  token generation moves (a password change or reset), and bound to the login's
  `session` flag, so the link finishes the kind of sign-in the login asked for.
- `POST /api/auth/login/link` `{token}` finishes it (`sign_in.finish`, method
  `mailed_link`): a browser session (its request must come from the console's
  origin, checked before the token is spent) or a JWT. Its `login` event
  carries this request's IP, so that source is known from then on
  (`store.is_known_source`) and its password alone gets in again. If TOTP was
  turned on since the mail, the link leads to the second step instead.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any, NoReturn

from aiohttp import web

from services.auth import (
    account_tokens,
    mail,
    mail_throttle,
    sessions,
    sign_in,
    store,
    totp_handlers,
)
from services.auth.keys import PASSWORDS, THROTTLE
from services.auth.throttle import AdditionalVerificationRequired
from shared import tasks
from shared.bodies import Fields, read_object
from shared.errors import BadRequest
from shared.internal import Caller, caller
from shared.mail.templates import Link
from shared.service import DB, REDIS

_log = logging.getLogger(__name__)

PAGE = "/sign-in-link"  # the console page that posts the token (issue 17 builds it)
PURPOSE: account_tokens.Purpose = "sign_in_link"
USER_AGENT_SHOWN = 200
INVALID_LINK = "this sign-in link is invalid, used or expired; log in again"
MAILED = (
    "this account has had many failed logins from many places; if the password is right, "
    "a one-time sign-in link has been mailed to the account's address: open it within "
    "15 minutes to finish signing in"
)


async def challenge(
    request: web.Request, user: store.User | None, subject: str, password: str, *, session: bool
) -> NoReturn:
    """The answer to every login from an unknown source past the all-sources
    limit, for an account without TOTP (or no account): 403, and the link mailed
    in the background when the password is right."""
    app, who = request.app, caller(request)
    db: Any = app[DB]
    user_id = user.id if user else None
    await store.record_event(
        db, "login_challenged", user_id=user_id, ip=who.client_ip, user_agent=who.user_agent
    )
    if await app[PASSWORDS].verify(user.password_hash if user else None, password):
        assert user is not None
        tasks.spawn(_mail_link(app, user.id, who, session=session), name="sign-in-link-mail")
    else:
        await app[THROTTLE].record_failure(subject, who.client_ip)
        await store.record_event(
            db,
            "login_failed",
            user_id=user_id,
            ip=who.client_ip,
            user_agent=who.user_agent,
            detail={"reason": "bad_password" if user else "unknown_login"},
        )
    raise AdditionalVerificationRequired(MAILED)


def _shown(text: str | None) -> str:
    """Client text put in a mail: printable and short."""
    if not text:
        return "unknown"
    return "".join(ch if ch.isprintable() else " " for ch in text)[:USER_AGENT_SHOWN]


async def _mail_link(
    app: web.Application, user_id: uuid.UUID, who: Caller, *, session: bool
) -> None:
    """After the answer: the link, unless this account was sent one too recently."""
    if await mail_throttle.wait_before(app[REDIS], mail_throttle.SIGN_IN_LINK, user_id):
        _log.info("sign-in link mail throttled")
        return
    minutes = int(account_tokens.LIFETIMES[PURPOSE].total_seconds() // 60)
    context = {
        "ip": who.client_ip or "unknown",
        "user_agent": _shown(who.user_agent),
        "time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": minutes,
    }
    db: Any = app[DB]
    async with db.acquire() as connection, connection.transaction():
        token = await account_tokens.issue(connection, PURPOSE, user_id, session=session)
        await mail.queue_to_user(
            app,
            connection,
            user_id,
            "sign_in_link",
            context,
            Link(path=PAGE, query={"token": token}),
        )
        await store.record_event(
            connection,
            "login_link_sent",
            user_id=user_id,
            ip=who.client_ip,
            user_agent=who.user_agent,
            detail={"session": session},
        )
    mail.wake(app)


async def finish_link(request: web.Request) -> web.Response:
    fields = Fields(await read_object(request))
    token = fields.string("token", max_length=account_tokens.TOKEN_MAX_LENGTH, controls="none")
    fields.check()
    assert token is not None
    db: Any = request.app[DB]
    pending = await account_tokens.peek(db, PURPOSE, token)
    if pending is None:
        raise BadRequest(INVALID_LINK)
    if pending.session:  # login CSRF: refused before the token is spent
        sessions.check_sign_in_origin(request)
    async with db.acquire() as connection, connection.transaction():
        redeemed = await account_tokens.consume(connection, PURPOSE, token)
    user = None if redeemed is None else await store.user_by_id(db, redeemed.user_id)
    if redeemed is None or user is None:  # spent by a concurrent click
        raise BadRequest(INVALID_LINK)
    session = bool(redeemed.session)
    second_step = await totp_handlers.login_challenge(request, user, session=session)
    if second_step is not None:
        return second_step
    response = (await sign_in.finish(request, user, method="mailed_link", session=session)).json()
    response.headers["Cache-Control"] = "no-store"
    return response
