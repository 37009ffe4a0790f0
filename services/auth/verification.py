"""Email verification: the mail at sign-up, the link that verifies, the resend.

- Sign-up queues a verification mail in the transaction that creates the
  account (`queue_mail`); the link is `<public URL>/verify-email?token=...`,
  a console page that posts the token to `POST /api/auth/verify-email`.
- Verifying is public (the token is the proof), single use, and spends every
  other verification token of the account.
- `POST /api/auth/verify-email/resend` (signed in) mails a new link, at most
  once a minute and ten times a day per account (429 with Retry-After).
- When the operator requires it (AUTH_REQUIRE_VERIFIED_EMAIL), an unverified
  account may not create API keys (`require_verified`) nor relay with a key
  it already has (auth's key verification answers 403 with `NOT_VERIFIED`).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from services.auth import account_tokens, mail, mail_throttle, store
from services.auth.keys import SETTINGS
from shared.bodies import Fields, read_object
from shared.errors import BadRequest, Conflict, Forbidden, NotFound, TooManyRequests
from shared.internal import caller
from shared.mail.templates import Link
from shared.service import DB, REDIS

PAGE = "/verify-email"
NOT_VERIFIED = (
    "verify your email address first: open the link in the mail we sent you, "
    "or ask for a new one (POST /api/auth/verify-email/resend)"
)
INVALID_LINK = "this link is invalid, used or expired; ask for a new one"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"


async def queue_mail(app: web.Application, connection: Any, user_id: uuid.UUID) -> None:
    """A verification mail to the user's address, in the caller's transaction."""
    token = await account_tokens.issue(connection, "verify_email", user_id)
    hours = int(account_tokens.LIFETIMES["verify_email"].total_seconds() // 3600)
    await mail.queue_to_user(
        app,
        connection,
        user_id,
        "verify_email",
        {"hours": hours},
        Link(path=PAGE, query={"token": token}),
    )


async def require_verified(app: web.Application, user_id: uuid.UUID) -> None:
    """Raise 403 when the operator requires a verified email and this one is not."""
    if not app[SETTINGS].require_verified_email:
        return
    user = await store.user_by_id(app[DB], user_id)
    if user is None:
        raise NotFound("account not found")
    if user.email_verified_at is None:
        raise EmailNotVerified(NOT_VERIFIED)


async def verify_email(request: web.Request) -> web.Response:
    fields = Fields(await read_object(request))
    token = fields.string("token", max_length=account_tokens.TOKEN_MAX_LENGTH, controls="none")
    fields.check()
    assert token is not None
    who = caller(request)
    pool: Any = request.app[DB]
    async with pool.acquire() as connection, connection.transaction():
        redeemed = await account_tokens.consume(connection, "verify_email", token)
        if redeemed is None:
            raise BadRequest(INVALID_LINK)
        await connection.execute(
            "UPDATE auth.users SET email_verified_at = coalesce(email_verified_at, now()), "
            "updated_at = now() WHERE id = $1",
            redeemed.user_id,
        )
        await account_tokens.use_all(connection, "verify_email", redeemed.user_id)
        await store.record_event(
            connection,
            "email_verified",
            user_id=redeemed.user_id,
            ip=who.client_ip,
            user_agent=who.user_agent,
        )
    return web.json_response({"email_verified": True})


async def resend(request: web.Request) -> web.Response:
    app, user_id = request.app, caller(request).require_user()
    user = await store.user_by_id(app[DB], user_id)
    if user is None:
        raise NotFound("account not found")
    if user.email_verified_at is not None:
        raise Conflict("the email address is already verified")
    wait = await mail_throttle.wait_before(app[REDIS], mail_throttle.VERIFY_RESEND, user_id)
    if wait:
        raise TooManyRequests("a verification mail was sent recently; try later", retry_after=wait)
    pool: Any = app[DB]
    async with pool.acquire() as connection, connection.transaction():
        await queue_mail(app, connection, user_id)
    mail.wake(app)
    return web.json_response({"status": "verification_sent"}, status=202)
