"""Linking a provider identity to an existing account: `POST /api/auth/oauth/link
{link_token, password, code?}`.

A provider sign-in whose verified email matches an account signs nobody in
(`oauth_handlers`); it hands the browser a one-time link token instead. The
identity is linked only when that account's own proof is given here: the
password, and the TOTP (or a recovery) code when two-factor sign-in is on.
Rules:
- Failures count in the login throttle of that account and source, and are
  recorded as `login_failed`; past the all-sources limit only a known source
  (or, with TOTP on, the code as the further proof) may go on, as at login.
- A wrong password or code leaves the token usable until it expires (the
  owner may mistype); the right proof consumes it once (a second request with
  it finds nothing), links the identity and signs the browser in (a session).
- An account without a password (made by another provider) cannot be linked
  here: no password matches it.
"""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from services.auth import identities, sessions, sign_in, store, totp_store
from services.auth.identities import ProviderIdentity
from services.auth.keys import PASSWORDS, SECOND_FACTOR, THROTTLE
from services.auth.login_names import login_key
from services.auth.oauth_flow import OAuthUnavailable
from services.auth.passwords import MAX_LENGTH
from services.auth.sign_in_providers import SIGN_IN_PROVIDERS
from services.auth.throttle import AdditionalVerificationRequired, login_subject
from services.auth.totp import CODE_MAX_LENGTH
from shared.bodies import Fields, read_object
from shared.errors import BadRequest, ServiceUnavailable, Unauthorized
from shared.internal import caller
from shared.service import DB


class MfaRequired(Unauthorized):
    """The account has two-factor sign-in on: the request must carry its code."""

    code: ClassVar[str] = "mfa_required"


async def link(request: web.Request) -> web.Response:
    sessions.check_sign_in_origin(request)
    fields = Fields(await read_object(request))
    token = fields.string("link_token", max_length=128, controls="none")
    password = fields.string("password", max_length=MAX_LENGTH, controls="any")
    code = fields.string("code", required=False, max_length=CODE_MAX_LENGTH, controls="none")
    fields.check()
    assert token is not None and password is not None
    app, who = request.app, caller(request)
    flows = app[SIGN_IN_PROVIDERS].flows
    try:
        pending = await flows.pending_link(token)
    except OAuthUnavailable as exc:
        raise ServiceUnavailable("linking is unavailable; try again") from exc
    user = await store.user_by_id(app[DB], pending.account) if pending else None
    if pending is None or user is None:
        raise BadRequest("the link token is unknown, used or expired")
    two_factor = await totp_store.enabled(app[DB], user.id)
    subject = login_subject(user.id, login_key(user.email))
    throttle = app[THROTTLE]
    if (
        await throttle.check(subject, who.client_ip)
        and not two_factor
        and not await store.is_known_source(
            app[DB], user.id, who.client_ip, throttle.limits.known_source_days
        )
    ):
        raise AdditionalVerificationRequired(
            "this account has had many failed logins; try again later"
        )
    if not await app[PASSWORDS].verify(user.password_hash, password):
        await _failed(request, user, subject, "bad_password")
        raise Unauthorized("invalid password")
    if two_factor:
        if not code:
            raise MfaRequired("this account has two-factor sign-in on: give its code too")
        if await app[SECOND_FACTOR].prove(user.id, code) is None:
            await _failed(request, user, subject, "bad_code")
            raise Unauthorized("the code is wrong, expired or already used")
    if not await flows.claim_link(token):
        raise BadRequest("the link token is unknown, used or expired")
    await identities.link(
        app[DB],
        user.id,
        ProviderIdentity(
            provider=pending.provider,
            subject=pending.subject,
            email=pending.email,
            name=pending.name,
            avatar_url=pending.avatar_url,
        ),
    )
    await store.record_event(
        app[DB],
        "oauth_linked",
        user_id=user.id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"provider": pending.provider},
    )
    return (await sign_in.finish(request, user, method="oauth", session=True)).json()


async def _failed(request: web.Request, user: store.User, subject: str, reason: str) -> None:
    who = caller(request)
    await request.app[THROTTLE].record_failure(subject, who.client_ip)
    await store.record_event(
        request.app[DB],
        "login_failed",
        user_id=user.id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"reason": reason, "method": "oauth_link"},
    )
