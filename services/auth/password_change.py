"""`POST /api/me/password` {current_password, new_password}: a signed-in change.

The current password is required (a stolen token alone cannot change it) and
wrong guesses count against the login throttle of the account and source,
like failed logins. The new password is checked like a sign-up's. In one
transaction the hash is replaced and the token generation bumped
(`password_reset.replace_password`): every JWT and browser session of the
account issued before is void, the caller's own credential too, so the
answer hands the caller a fresh one at the new generation: a JWT
(`{access_token, token_type, expires_in}`) to an API client, a new session
cookie (and its CSRF token, as at sign-in) to a browser that came with its
session. A notice goes to the account's address.

Only a login may do this: an API key is refused here as at the gateway.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.auth import credentials, mail, password_reset, sessions, sign_in, store
from services.auth.keys import PASSWORDS, THROTTLE
from services.auth.passwords import MAX_LENGTH, weaknesses
from services.auth.throttle import login_subject
from shared.bodies import Fields, read_object
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.internal import Caller, caller
from shared.service import DB, REDIS

WRONG_PASSWORD = "the current password is wrong"


async def signed_in_user(request: web.Request) -> tuple[Caller, store.User]:
    """The caller's account; 403 for an API key (these changes need a login)."""
    who = caller(request)
    user_id = who.require_user()
    if who.credential == "api_key":
        raise Forbidden("this route needs a login token, not an API key")
    user = await store.user_by_id(request.app[DB], user_id)
    if user is None:
        raise NotFound("account not found")
    return who, user


async def check_password(
    request: web.Request, who: Caller, user: store.User, password: str
) -> None:
    """403 unless `password` is the account's; failures are throttled like logins."""
    throttle = request.app[THROTTLE]
    subject = login_subject(user.id, "")
    await throttle.check(subject, who.client_ip)  # 429 past the per-source limits
    if not await request.app[PASSWORDS].verify(user.password_hash, password):
        await throttle.record_failure(subject, who.client_ip)
        await store.record_event(
            request.app[DB],
            "password_check_failed",
            user_id=user.id,
            ip=who.client_ip,
            user_agent=who.user_agent,
        )
        raise Forbidden(WRONG_PASSWORD)


async def change_password(request: web.Request) -> web.Response:
    who, user = await signed_in_user(request)
    fields = Fields(await read_object(request))
    current = fields.string("current_password", max_length=MAX_LENGTH, controls="any")
    new = fields.string("new_password", max_length=MAX_LENGTH + 1, controls="any")
    fields.check()
    assert current is not None and new is not None
    await check_password(request, who, user, current)
    problems = weaknesses(new, username=user.username, email=user.email)
    if problems:
        raise Unprocessable("password refused", details=problems)
    app = request.app
    password_hash = await app[PASSWORDS].hash(new)
    pool: Any = app[DB]
    async with pool.acquire() as connection, connection.transaction():
        await password_reset.replace_password(
            app, connection, user.id, password_hash, reset=False, who=who
        )
    await credentials.announce(app[REDIS], user.id)
    mail.wake(app)
    changed = await store.user_by_id(app[DB], user.id)
    assert changed is not None
    if who.session_id is not None:  # a browser: its session is void, a new one replaces it
        body, (name, value, options) = await sessions.start(request, changed)
        response = web.json_response({"status": "password_changed", **body})
        response.set_cookie(name, value, **options)
        return response
    return web.json_response(
        {"status": "password_changed", **await sign_in.jwt_for(request, changed)}
    )
