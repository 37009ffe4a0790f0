"""Two-factor sign-in over HTTP: enrol, confirm, turn off, new recovery codes, and
the login's second step.

- `POST /api/me/totp` starts (or restarts) an enrolment: the secret, its
  otpauth URI and a QR code; `POST /api/me/totp/confirm` `{code}` turns it on
  with a first code and answers the ten recovery codes, shown this once.
- `DELETE /api/me/totp` `{password, code}` turns it off;
  `POST /api/me/totp/recovery-codes` `{code}` replaces the recovery codes.
  Both need a fresh proof even from a signed-in caller, so a stolen login
  token alone cannot remove the second factor, and failed proofs count in the
  login throttle (account and source) like failed logins.
- `POST /api/auth/login/mfa` `{mfa_token, code}` finishes a login that
  answered `mfa_required`: a wrong code is 401 and a failure in the login
  throttle; the right one finishes the sign-in (`sign_in.finish`) with the
  credential the login asked for: a JWT, or a browser session when it said
  `session` (its second step must then come from the console's origin too).
- Turning TOTP on or off, and signing in with a recovery code, mails the
  owner a notice, queued in the transaction of the change. Answers holding a
  secret or codes are `Cache-Control: no-store`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.auth import mail, sessions, sign_in, store, totp_store
from services.auth.keys import PASSWORDS, SECOND_FACTOR, THROTTLE
from services.auth.passwords import MAX_LENGTH
from services.auth.second_factor import CHALLENGE_SECONDS
from services.auth.throttle import login_subject
from services.auth.totp import CODE_MAX_LENGTH
from shared.bodies import Fields, read_object
from shared.errors import Conflict, Forbidden, NotFound, Unauthorized
from shared.internal import caller
from shared.service import DB

_NO_STORE = {"Cache-Control": "no-store"}


def _private(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=_NO_STORE)


async def _signed_in_user(request: web.Request) -> store.User:
    user = await store.user_by_id(request.app[DB], caller(request).require_user())
    if user is None:
        raise NotFound("account not found")
    return user


async def _event(
    request: web.Request, connection: Any, user: store.User, kind: str, **detail: Any
) -> None:
    who = caller(request)
    await store.record_event(
        connection,
        kind,
        user_id=user.id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail=detail or None,
    )


async def enrol(request: web.Request) -> web.Response:
    user = await _signed_in_user(request)
    enrolment = await request.app[SECOND_FACTOR].enrol(user.id, user.email)
    return _private(
        {
            "secret": enrolment.secret,
            "otpauth_uri": enrolment.otpauth_uri,
            "qr_svg": enrolment.qr_svg,
        }
    )


async def confirm(request: web.Request) -> web.Response:
    user = await _signed_in_user(request)
    fields = Fields(await read_object(request))
    code = fields.string("code", max_length=CODE_MAX_LENGTH, controls="none")
    fields.check()
    assert code is not None
    app = request.app
    db: Any = app[DB]
    async with db.acquire() as connection, connection.transaction():
        codes = await app[SECOND_FACTOR].confirm(connection, user.id, code)
        await _event(request, connection, user, "totp_enabled")
        await mail.queue_to_user(app, connection, user.id, "totp_enabled", {})
    mail.wake(app)
    return _private({"recovery_codes": codes})


async def _prove_again(
    request: web.Request, user: store.User, *, action: str, code: str, password: str | None
) -> None:
    """A fresh proof from a signed-in caller (the password when given, and a code);
    403 and a failure in the login throttle when it is wrong."""
    app, who = request.app, caller(request)
    if not await totp_store.enabled(app[DB], user.id):
        raise Conflict("two-factor sign-in is not on")
    subject = login_subject(user.id, "")
    await app[THROTTLE].check(subject, who.client_ip)
    reason = None
    if password is not None and not await app[PASSWORDS].verify(user.password_hash, password):
        reason = "bad_password"  # the code is not spent on a wrong password
    elif await app[SECOND_FACTOR].prove(user.id, code) is None:
        reason = "bad_code"
    if reason is not None:
        await app[THROTTLE].record_failure(subject, who.client_ip)
        await _event(request, app[DB], user, "mfa_failed", action=action, reason=reason)
        raise Forbidden("the password or the code is wrong")


async def disable(request: web.Request) -> web.Response:
    user = await _signed_in_user(request)
    fields = Fields(await read_object(request))
    password = fields.string("password", max_length=MAX_LENGTH, controls="any")
    code = fields.string("code", max_length=CODE_MAX_LENGTH, controls="none")
    fields.check()
    assert password is not None and code is not None
    await _prove_again(request, user, action="disable", code=code, password=password)
    app = request.app
    db: Any = app[DB]
    async with db.acquire() as connection, connection.transaction():
        if await totp_store.remove(connection, user.id):
            await _event(request, connection, user, "totp_disabled")
            await mail.queue_to_user(app, connection, user.id, "totp_disabled", {})
    mail.wake(app)
    return web.Response(status=204)


async def new_recovery_codes(request: web.Request) -> web.Response:
    user = await _signed_in_user(request)
    fields = Fields(await read_object(request))
    code = fields.string("code", max_length=CODE_MAX_LENGTH, controls="none")
    fields.check()
    assert code is not None
    await _prove_again(request, user, action="recovery_codes", code=code, password=None)
    app = request.app
    db: Any = app[DB]
    async with db.acquire() as connection, connection.transaction():
        if not await totp_store.enabled(connection, user.id):  # turned off meanwhile
            raise Conflict("two-factor sign-in is not on")
        codes = await app[SECOND_FACTOR].replace_recovery_codes(connection, user.id)
        await _event(request, connection, user, "recovery_codes_replaced")
    return _private({"recovery_codes": codes})


async def login_challenge(
    request: web.Request, user: store.User, *, session: bool
) -> web.Response | None:
    """For a login whose password was right: the `mfa_required` answer when the
    account has TOTP on, else None (the login finishes as it is)."""
    if not await totp_store.enabled(request.app[DB], user.id):
        return None
    return await _challenge(request, user, session=session, password_ok=True)


async def blind_challenge(
    request: web.Request, user: store.User, password: str, *, session: bool
) -> web.Response:
    """For an account with TOTP on, past its all-sources failure limit, from a
    source it has not used: `mfa_required` whether or not the password is right,
    so a distributed guesser learns nothing from the answer while the owner still
    gets in with the password and a code. A wrong password is a failure as
    usual, and the second step of its challenge refuses every code."""
    app, who = request.app, caller(request)
    password_ok = await app[PASSWORDS].verify(user.password_hash, password)
    if not password_ok:
        await app[THROTTLE].record_failure(login_subject(user.id, ""), who.client_ip)
        await _event(request, app[DB], user, "login_failed", reason="bad_password")
    return await _challenge(request, user, session=session, password_ok=password_ok)


async def _challenge(
    request: web.Request, user: store.User, *, session: bool, password_ok: bool
) -> web.Response:
    app = request.app
    mfa_token = await app[SECOND_FACTOR].open_challenge(
        user.id, session=session, password_ok=password_ok
    )
    await _event(request, app[DB], user, "mfa_challenged")
    return _private({"mfa_required": True, "mfa_token": mfa_token, "expires_in": CHALLENGE_SECONDS})


async def _recovery_code_used(request: web.Request, user: store.User) -> None:
    """Record it and tell the owner: a recovery code signing in is worth a mail."""
    app, who = request.app, caller(request)
    db: Any = app[DB]
    async with db.acquire() as connection, connection.transaction():
        left = await totp_store.unused_recovery_codes(connection, user.id)
        await _event(request, connection, user, "recovery_code_used", unused_left=left)
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        context = {"ip": who.client_ip or "unknown", "time": when, "left": left}
        await mail.queue_to_user(app, connection, user.id, "recovery_code_used", context)
    mail.wake(app)


async def login_mfa(request: web.Request) -> web.Response:
    fields = Fields(await read_object(request))
    mfa_token = fields.string("mfa_token", max_length=100, controls="none")
    code = fields.string("code", max_length=CODE_MAX_LENGTH, controls="none")
    fields.check()
    assert mfa_token is not None and code is not None
    app, who = request.app, caller(request)
    factor = app[SECOND_FACTOR]
    expired = Unauthorized("this sign-in has expired or is finished; log in again")
    challenge = await factor.challenge(mfa_token)
    if challenge is None:
        raise expired
    if challenge.session:  # a browser's sign-in: the same login CSRF check as the password step
        sessions.check_sign_in_origin(request)
    subject = login_subject(challenge.user_id, "")
    # 429 past the per-source limits; past the all-sources limit this code is the
    # further proof such a login is asked for, so it may go on.
    await app[THROTTLE].check(subject, who.client_ip)
    if not await factor.count_try(mfa_token):
        raise expired
    user = await store.user_by_id(app[DB], challenge.user_id)
    if user is None:
        raise expired
    proof = await factor.prove(user.id, code) if challenge.password_ok else None
    if proof is None:
        await app[THROTTLE].record_failure(subject, who.client_ip)
        await _event(request, app[DB], user, "mfa_failed", action="login")
        raise Unauthorized("the code is wrong, expired or already used")
    if await factor.close_challenge(mfa_token) is None:
        raise expired  # a concurrent request with this token finished first
    if proof == "recovery_code":
        await _recovery_code_used(request, user)
    done = await sign_in.finish(request, user, method="mfa", session=challenge.session)
    response = done.json()
    response.headers.update(_NO_STORE)
    return response
