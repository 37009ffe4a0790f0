"""Password reset by mail, after the OWASP Forgot Password cheat sheet.

- `POST /api/auth/password-reset` {email} answers 202 with one fixed body
  whatever the email: an account, no account, a throttled account. The
  answer is given before anything about the email is looked up: the lookup,
  the token and the mail happen in a background task after the response
  (`_mail_link`), so the time of the answer cannot tell whether the email has
  an account either. The mail is queued in the outbox (encrypted) and goes
  out when the mail server can take it; the request never waits for it.
- One reset mail per account per minute and ten a day (`mail_throttle`), so
  the form cannot bomb an inbox; past that nothing is sent, silently. One
  source may ask 30 times an hour, whatever the emails (429 past that: an
  answer about the source, never about the email).
- The token: 256 random bits, only its SHA-256 stored, single use, 30
  minutes, void once the password changes (`account_tokens`).
- `POST /api/auth/password-reset/confirm` {token, password}: the user picks
  the new password (checked like a sign-up's before the token is spent);
  then in one transaction the token is spent, the password replaced, the
  token generation bumped (every JWT and session of the account is void),
  a `password_reset` security event recorded and a notice mailed. The user
  signs in afresh with the new password.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from services.auth import account_tokens, credentials, mail, mail_throttle, store
from services.auth.keys import PASSWORDS
from services.auth.passwords import MAX_LENGTH, weaknesses
from shared import tasks
from shared.bodies import Fields, read_object
from shared.errors import BadRequest, Unprocessable
from shared.internal import Caller, caller
from shared.mail.templates import Link
from shared.service import DB, REDIS

_log = logging.getLogger(__name__)

PAGE = "/reset-password"
FORGOT_PAGE = "/forgot-password"
INVALID_LINK = "this link is invalid, used or expired; ask for a new one"
ACCEPTED = {
    "status": "reset_requested",
    "message": "if an account has this email, a link to reset its password was mailed to it",
}


async def request_reset(request: web.Request) -> web.Response:
    fields = Fields(await read_object(request))
    email = fields.string("email", max_length=254, controls="none")
    fields.check()
    assert email is not None
    who = caller(request)
    await mail_throttle.admit_reset_request(request.app[REDIS], who.client_ip)
    tasks.spawn(_mail_link(request.app, email, who), name="password-reset-mail")
    return web.json_response(ACCEPTED, status=202)


async def _mail_link(app: web.Application, email: str, who: Caller) -> None:
    """After the answer: the reset mail, if the email names an account that may
    be sent one now. Nothing here reaches the client."""
    if "@" not in email:  # only an email names an account here, never a username
        return
    db: Any = app[DB]
    user = await store.user_by_login(db, email)
    if user is None:
        return
    if await mail_throttle.wait_before(app[REDIS], mail_throttle.PASSWORD_RESET, user.id):
        _log.info("password reset mail throttled")
        return
    minutes = int(account_tokens.LIFETIMES["password_reset"].total_seconds() // 60)
    async with db.acquire() as connection, connection.transaction():
        token = await account_tokens.issue(connection, "password_reset", user.id)
        await mail.queue_to_user(
            app,
            connection,
            user.id,
            "reset_password",
            {"minutes": minutes},
            Link(path=PAGE, query={"token": token}),
        )
        await store.record_event(
            connection,
            "password_reset_requested",
            user_id=user.id,
            ip=who.client_ip,
            user_agent=who.user_agent,
        )
    mail.wake(app)


async def confirm_reset(request: web.Request) -> web.Response:
    fields = Fields(await read_object(request))
    token = fields.string("token", max_length=account_tokens.TOKEN_MAX_LENGTH, controls="none")
    password = fields.string("password", max_length=MAX_LENGTH + 1, controls="any")
    fields.check()
    assert token is not None and password is not None
    app, who = request.app, caller(request)
    db: Any = app[DB]
    pending = await account_tokens.peek(db, "password_reset", token)
    user = None if pending is None else await store.user_by_id(db, pending.user_id)
    if user is None:
        raise BadRequest(INVALID_LINK)
    problems = weaknesses(password, username=user.username, email=user.email)
    if problems:  # the token is not spent: the user tries another password
        raise Unprocessable("password refused", details=problems)
    password_hash = await app[PASSWORDS].hash(password)
    async with db.acquire() as connection, connection.transaction():
        redeemed = await account_tokens.consume(connection, "password_reset", token)
        if redeemed is None or redeemed.user_id != user.id:  # spent meanwhile
            raise BadRequest(INVALID_LINK)
        await replace_password(app, connection, user.id, password_hash, reset=True, who=who)
        await connection.execute(  # the link came to this address: it is the user's
            "UPDATE auth.users SET email_verified_at = coalesce(email_verified_at, now()) "
            "WHERE id = $1",
            user.id,
        )
    await credentials.announce(app[REDIS], user.id)
    mail.wake(app)
    return web.json_response({"status": "password_reset"})


async def replace_password(
    app: web.Application,
    connection: Any,
    user_id: Any,
    password_hash: str,
    *,
    reset: bool,
    who: Caller,
) -> int:
    """In the caller's transaction: the new hash, a new token generation, the
    security event and the notice. The new generation; announce after commit."""
    await connection.execute(
        "UPDATE auth.users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )
    generation = await credentials.bump(connection, user_id)
    await store.record_event(
        connection,
        "password_reset" if reset else "password_changed",
        user_id=user_id,
        ip=who.client_ip,
        user_agent=who.user_agent,
    )
    await mail.queue_to_user(
        app,
        connection,
        user_id,
        "password_changed",
        {"reset": reset},
        Link(path=FORGOT_PAGE, query={}),
    )
    return generation
