"""Sign-up that does not say whether an email has an account (issue 16, point 8).

Rules:
- A sign-up with an email that is taken (after normalisation,
  `login_names.login_key`) answers exactly like a fresh one: 201, the same
  body (`answer`: what the client sent back, and that a mail was sent),
  the same headers, in about the same time (the password is hashed either
  way). The owner of the address is told by mail instead: someone tried to
  sign up with it; if it was them, sign in or reset the password.
- That notice goes at most once per account per `NOTICE_SECONDS` (a Redis
  key), so sign-up spam cannot bomb an owner's inbox; every attempt is still
  a security event on the owner's account (`signup_attempt_existing_email`,
  with the attempt's IP and user agent, never its password).
- A taken username is 409, whatever the email: usernames are public.
- Optional screens before the password is hashed: disposable email domains
  (`disposable`, when AUTH_REFUSE_DISPOSABLE_EMAIL) and Cloudflare Turnstile
  (`turnstile`, when TURNSTILE_SECRET_KEY).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from services.auth import mail, store, verification
from services.auth.disposable import disposable_problems
from services.auth.keys import SETTINGS, TURNSTILE
from shared.errors import Conflict
from shared.internal import Caller
from shared.mail.templates import Link, link_url
from shared.service import DB, REDIS

_log = logging.getLogger(__name__)

NOTICE_SECONDS = 3600
STATUS = "verification_sent"


def answer(email: str, username: str) -> web.Response:
    """The one answer to an accepted sign-up, whether or not the email was taken."""
    return web.json_response({"status": STATUS, "email": email, "username": username}, status=201)


def email_refusals(app: web.Application, email: str) -> list[str]:
    """Problems with the address the operator's screens find (disposable domains)."""
    return disposable_problems(email) if app[SETTINGS].refuse_disposable_email else []


async def check_challenge(app: web.Application, token: str | None, ip: str | None) -> None:
    """The Turnstile check when configured (raises when it was not passed)."""
    checker = app.get(TURNSTILE)
    if checker is not None:
        await checker.verify(token, ip)


async def options(request: web.Request) -> web.Response:
    """GET /api/auth/signup/options (public): what the sign-up form must carry.

    `turnstile` is null when the check is off, else the site key the console's
    widget renders with; `refuses_disposable_email` lets a form say so early."""
    app = request.app
    checker = app.get(TURNSTILE)
    return web.json_response(
        {
            "turnstile": None if checker is None else {"site_key": checker.site_key},
            "refuses_disposable_email": app[SETTINGS].refuse_disposable_email,
        },
        headers={"Cache-Control": "max-age=60"},
    )


async def create_or_notify(
    request: web.Request,
    who: Caller,
    *,
    email: str,
    username: str,
    password_hash: str,
    language: str = "en",
) -> store.User | None:
    """The new account, or None when the email was taken (its owner is told)."""
    db: Any = request.app[DB]
    try:
        # The verification mail commits with the account (issue 16, point 2).
        async with db.acquire() as connection, connection.transaction():
            user = await store.create_user(
                connection,
                email=email,
                username=username,
                password_hash=password_hash,
                language=language,
            )
            await verification.queue_mail(request.app, connection, user.id)
        mail.wake(request.app)
        return user
    except store.EmailTaken:
        pass
    if await store.username_taken(db, username):
        raise Conflict("username is already taken")
    owner = await store.user_by_login(db, email)
    if owner is not None:
        await _tell_owner(request.app, owner, who)
    return None


async def _tell_owner(app: web.Application, owner: store.User, who: Caller) -> None:
    mailed = await _first_notice_this_hour(app, owner)
    pool: Any = app[DB]
    async with pool.acquire() as connection, connection.transaction():
        await store.record_event(
            connection,
            "signup_attempt_existing_email",
            user_id=owner.id,
            ip=who.client_ip,
            user_agent=who.user_agent,
            detail={"mailed": mailed},
        )
        if mailed:
            public_url = app[SETTINGS].public_url
            await mail.queue_to_user(
                app,
                connection,
                owner.id,
                "signup_existing_email",
                {
                    "ip": who.client_ip or "unknown",
                    "time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "reset_url": link_url(public_url, Link(path="/forgot-password", query={})),
                },
                Link(path="/login", query={}),
            )
    if mailed:
        mail.wake(app)


async def _first_notice_this_hour(app: web.Application, owner: store.User) -> bool:
    """Claim this hour's notice for the owner; without Redis, no mail (the event stays)."""
    try:
        claimed = await app[REDIS].set(
            f"tg:signup-notice:{owner.id}", b"1", nx=True, ex=NOTICE_SECONDS
        )
    except RedisError:
        _log.warning("sign-up notice skipped: Redis unavailable")
        return False
    return bool(claimed)
