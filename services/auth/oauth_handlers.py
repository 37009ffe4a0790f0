"""Sign-in with a provider over HTTP: the methods list, the start and callback
redirects, and linking an identity to an existing account by its password.

Outcomes at the callback (the identity is the provider's subject, never the email):
- a known identity signs its user in;
- an unknown identity whose verified email no account has creates a
  passwordless account with the identity linked, and signs it in;
- an unknown identity whose email an account has signs nobody in and links
  nothing: the browser goes to the console's sign-in page with a one-time
  link token (`oauth_link`: the account's password links it);
- an account with TOTP on is sent to the second step (`?mfa_token=`), never
  signed in by the provider alone;
- an identity without a verified email is refused (it could not be told
  apart from someone claiming another person's address);
- a suspended account is signed in by nobody: back to the sign-in page with
  `?error=account_suspended`.

Every failure at the callback (a wrong, used or foreign state, a provider
error, a refused code, an ID token that fails a check) is a redirect to the
console's sign-in page with `?error=`, and an `oauth_failed` security event;
never a 500 and never a hint of which check failed.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from aiohttp import web

from services.auth import identities, sign_in, store, totp_store
from services.auth.identities import ProviderIdentity
from services.auth.keys import SECOND_FACTOR
from services.auth.oauth_flow import (
    COOKIE,
    FLOW_SECONDS,
    SECURE_COOKIE,
    OAuthFailed,
    OAuthUnavailable,
    PendingLink,
)
from services.auth.sign_in_providers import SIGN_IN_PROVIDERS, SignInProviders
from shared.errors import Conflict, NotFound
from shared.internal import caller
from shared.service import DB

_log = logging.getLogger(__name__)
# What the console is told; every other reason is `oauth_failed`.
_SHOWN_REASONS = {
    "oauth_cancelled",
    "oauth_unavailable",
    "oauth_email_unverified",
    "account_suspended",
}


def _cookie_name(providers: SignInProviders) -> str:
    return SECURE_COOKIE if providers.secure_cookie else COOKIE


def _bind(response: web.Response, providers: SignInProviders, binding: str | None) -> None:
    """Set the binding cookie (None: clear it). `__Host-` and Secure when
    session cookies are Secure (SESSION_COOKIE_SECURE); Lax, so the provider's
    redirect back, a top-level navigation, carries it."""
    secure = providers.secure_cookie
    path = "/" if secure else "/api/auth/oauth/"
    name = _cookie_name(providers)
    if binding is None:
        response.del_cookie(name, path=path, secure=secure, httponly=True, samesite="Lax")
        return
    response.set_cookie(
        name,
        binding,
        max_age=FLOW_SECONDS,
        path=path,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def _redirect(location: str) -> web.Response:
    return web.Response(
        status=302,
        headers={
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


async def methods(request: web.Request) -> web.Response:
    """Which ways in exist, for the console's sign-in page."""
    providers = request.app[SIGN_IN_PROVIDERS]
    return web.json_response({"password": True, "providers": providers.listed()})


async def start(request: web.Request) -> web.Response:
    providers = request.app[SIGN_IN_PROVIDERS]
    provider = request.match_info["provider"]
    if not providers.enabled(provider):
        raise NotFound("no such sign-in provider")
    try:
        started = await providers.flows.start(provider)
        location = await providers.authorize_url(provider, started)
    except OAuthFailed as exc:
        return await _failed(request, provider, exc)
    response = _redirect(location)
    _bind(response, providers, started.binding)
    return response


async def callback(request: web.Request) -> web.Response:
    providers = request.app[SIGN_IN_PROVIDERS]
    provider = request.match_info["provider"]
    if not providers.enabled(provider):
        raise NotFound("no such sign-in provider")
    try:
        binding = request.cookies.get(_cookie_name(providers))
        response = await _finish(request, providers, provider, binding)
    except OAuthFailed as exc:
        response = await _failed(request, provider, exc)
    _bind(response, providers, None)
    return response


async def _finish(
    request: web.Request, providers: SignInProviders, provider: str, binding: str | None
) -> web.Response:
    query = request.query
    flow = await providers.flows.take(query.get("state"), binding)
    if flow.provider != provider:
        raise OAuthFailed("state_other_provider", "the state was started for another provider")
    if "error" in query:
        reason = "oauth_cancelled" if query["error"] == "access_denied" else "provider_error"
        raise OAuthFailed(reason, f"the provider answered {query['error'][:64]!r}")
    code = query.get("code", "")
    if not code or len(code) > 2048:
        raise OAuthFailed("code_missing", "no code")
    providers.check_response_issuer(provider, query.get("iss"))
    identity = identities.cleaned(await providers.identity(provider, code, flow))
    return await _outcome(request, providers, identity)


async def _outcome(
    request: web.Request, providers: SignInProviders, identity: ProviderIdentity
) -> web.Response:
    db = request.app[DB]
    user = await identities.user_for(db, identity.provider, identity.subject)
    if user is not None:
        await identities.touch(db, identity)
        return await _signed_in(request, providers, user)
    if identity.email is None:
        raise OAuthFailed("oauth_email_unverified", "the provider gave no verified email")
    holder = await store.user_by_login(db, identity.email)
    if holder is None and (user := await _new_account(request, identity)) is not None:
        return await _signed_in(request, providers, user)
    # The email is taken, maybe meanwhile, maybe by a first sign-in of this very
    # identity running at the same time: then that account is this identity's.
    user = await identities.user_for(db, identity.provider, identity.subject)
    if user is not None:
        return await _signed_in(request, providers, user)
    holder = holder or await store.user_by_login(db, identity.email)
    if holder is None:
        raise OAuthFailed("account_conflict", "no account could be made or found")
    return await _offer_link(request, providers, holder, identity)


async def _new_account(request: web.Request, identity: ProviderIdentity) -> store.User | None:
    """A new account for the identity; None when its email was taken meanwhile."""
    db, who = request.app[DB], caller(request)
    try:
        user = await identities.create_account(db, identity)
    except Conflict:
        return None
    await store.record_event(
        db,
        "signup",
        user_id=user.id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"method": identity.provider},
    )
    return user


async def _offer_link(
    request: web.Request,
    providers: SignInProviders,
    holder: store.User,
    identity: ProviderIdentity,
) -> web.Response:
    """Neither sign in nor link: send the browser to the console's sign-in page
    with a one-time token that the account's password turns into a link."""
    assert identity.email is not None
    who = caller(request)
    token = await providers.flows.offer_link(
        PendingLink(
            user_id=str(holder.id),
            provider=identity.provider,
            subject=identity.subject,
            email=identity.email,
            name=identity.name,
            avatar_url=identity.avatar_url,
        )
    )
    await store.record_event(
        request.app[DB],
        "oauth_link_offered",
        user_id=holder.id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"provider": identity.provider},
    )
    query = urlencode({"link_token": token, "provider": identity.provider})
    return _redirect(f"{providers.public_url}/login?{query}")


async def _signed_in(
    request: web.Request, providers: SignInProviders, user: store.User
) -> web.Response:
    """Sign the browser in; with TOTP on, to the console's second step instead
    (`POST /api/auth/login/mfa {mfa_token, code}` finishes it, as after a password)."""
    app = request.app
    if user.suspended_at is not None:
        # Before the second step: the console's sign-in page says so (the
        # reason is the password sign-in's and the operator's to tell).
        raise OAuthFailed("account_suspended", "the account is suspended")
    if await totp_store.enabled(app[DB], user.id):
        mfa_token = await app[SECOND_FACTOR].open_challenge(user.id, session=True)
        who = caller(request)
        await store.record_event(
            app[DB],
            "mfa_challenged",
            user_id=user.id,
            ip=who.client_ip,
            user_agent=who.user_agent,
            detail={"method": "oauth"},
        )
        return _redirect(f"{providers.public_url}/login?{urlencode({'mfa_token': mfa_token})}")
    done = await sign_in.finish(request, user, method="oauth", session=True)
    response = _redirect(providers.public_url + "/")
    done.apply(response)
    return response


async def _failed(request: web.Request, provider: str, exc: OAuthFailed) -> web.Response:
    who = caller(request)
    level = logging.WARNING if isinstance(exc, OAuthUnavailable) else logging.INFO
    _log.log(level, "provider sign-in refused", extra={"provider": provider, "reason": exc.reason})
    await store.record_event(
        request.app[DB],
        "oauth_failed",
        user_id=None,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"provider": provider, "reason": exc.reason},
    )
    shown = exc.reason if exc.reason in _SHOWN_REASONS else "oauth_failed"
    public_url = request.app[SIGN_IN_PROVIDERS].public_url
    return _redirect(f"{public_url}/login?{urlencode({'error': shown})}")
