"""Changing the account's email: the new address proves itself, the old one is told.

- `POST /api/me/email` {email, password} (signed in, with the password):
  202, and a mail to the NEW address with a link
  (`<public URL>/confirm-email?token=...`). The account keeps its address
  until the link is used. The answer is the same when the new address
  already belongs to another account (then no mail is sent), so the form
  cannot be used to find out who has an account.
- `POST /api/auth/confirm-email` {token} (public: the token is the proof,
  and it was mailed to the new address): in one transaction the token is
  spent, the email and its login key replaced and marked verified, the token
  generation bumped (every JWT and session of the account is void; the user
  signs in again), an `email_changed` event recorded and a notice queued to
  the OLD address. If the address was taken meanwhile, 409 and nothing
  changes. Other pending email changes of the account are spent with it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.auth import account_tokens, accounts, credentials, mail, store
from services.auth.login_names import login_key
from services.auth.password_change import check_password, signed_in_user
from services.auth.passwords import MAX_LENGTH
from shared.bodies import Fields, read_object
from shared.errors import BadRequest, Unprocessable
from shared.internal import caller
from shared.mail.templates import Link
from shared.service import DB, REDIS

PAGE = "/confirm-email"
INVALID_LINK = "this link is invalid, used or expired; ask for a new one"


async def request_change(request: web.Request) -> web.Response:
    who, user = await signed_in_user(request)
    fields = Fields(await read_object(request))
    email = fields.string("email", max_length=254, controls="none")
    password = fields.string("password", max_length=MAX_LENGTH, controls="any")
    fields.check()
    assert email is not None and password is not None
    email = accounts.normalise_email(email)
    problems = accounts.email_problems(email)
    if not problems and login_key(email) == login_key(user.email):
        problems.append("email: this is already the account's email")
    if problems:
        raise Unprocessable("email change refused", details=problems)
    await check_password(request, who, user, password)
    app = request.app
    taken = await store.user_by_login(app[DB], email) is not None
    hours = int(account_tokens.LIFETIMES["email_change"].total_seconds() // 3600)
    pool: Any = app[DB]
    async with pool.acquire() as connection, connection.transaction():
        await store.record_event(
            connection,
            "email_change_requested",
            user_id=user.id,
            ip=who.client_ip,
            user_agent=who.user_agent,
        )
        if not taken:
            token = await account_tokens.issue(connection, "email_change", user.id, new_email=email)
            await mail.queue_to_user(
                app,
                connection,
                user.id,
                "email_change_confirm",
                {"new_email": email, "username": user.username, "hours": hours},
                Link(path=PAGE, query={"token": token}),
                recipient=email,
            )
    mail.wake(app)
    return web.json_response({"status": "confirmation_sent", "email": email}, status=202)


async def confirm_change(request: web.Request) -> web.Response:
    fields = Fields(await read_object(request))
    token = fields.string("token", max_length=account_tokens.TOKEN_MAX_LENGTH, controls="none")
    fields.check()
    assert token is not None
    app, who = request.app, caller(request)
    pool: Any = app[DB]
    async with pool.acquire() as connection, connection.transaction():
        redeemed = await account_tokens.consume(connection, "email_change", token)
        if redeemed is None or redeemed.new_email is None:
            raise BadRequest(INVALID_LINK)
        user_id, new_email = redeemed.user_id, redeemed.new_email
        old = await store.user_by_id(connection, user_id)
        assert old is not None  # the token's user row is locked by `consume`
        await store.change_email(connection, user_id, new_email)  # 409 when taken
        await credentials.bump(connection, user_id)
        await account_tokens.use_all(connection, "email_change", user_id)
        await store.record_event(
            connection,
            "email_changed",
            user_id=user_id,
            ip=who.client_ip,
            user_agent=who.user_agent,
        )
        await mail.queue_to_user(
            app,
            connection,
            user_id,
            "email_changed",
            {"old_email": old.email, "new_email": new_email, "username": old.username},
            Link(path="/login", query={}),
            recipient=old.email,
        )
    await credentials.announce(app[REDIS], user_id)
    mail.wake(app)
    return web.json_response({"status": "email_changed", "email": new_email})
