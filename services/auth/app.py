"""The auth application: accounts, logins, JWTs, API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet

from services.auth import turnstile
from services.auth.api_keys import KeyHasher
from services.auth.billing_client import BillingClient
from services.auth.keys import (
    BILLING,
    KEY_HASHER,
    OUTBOX,
    PASSWORDS,
    SECOND_FACTOR,
    SETTINGS,
    SIGNING_KEYS,
    THROTTLE,
    TURNSTILE,
)
from services.auth.passwords import Passwords
from services.auth.routes import setup_routes
from services.auth.second_factor import SecondFactor
from services.auth.settings import Settings
from services.auth.sign_in_providers import providers_context
from services.auth.signing import SigningKeys
from services.auth.throttle import LoginLimits, LoginThrottle
from shared.mail.outbox import Outbox
from shared.mail.sender import sender_context
from shared.service import DB, REDIS, base_app


def create_app(settings: Settings) -> web.Application:
    app = base_app("auth", settings.common, internal=True)
    app[SETTINGS] = settings
    app[PASSWORDS] = Passwords()
    app[KEY_HASHER] = KeyHasher(settings.key_pepper)
    # Queued mails hold tokens in their links: encrypted at rest (shared/mail/outbox.py).
    app[OUTBOX] = Outbox("auth.outbox", MultiFernet([Fernet(k) for k in settings.secret_keys]))
    app.cleanup_ctx.append(_domain)
    app.cleanup_ctx.append(_billing_client)
    app.cleanup_ctx.append(providers_context)  # sign in with Google and GitHub
    if settings.mail is not None:  # else mails wait in auth.outbox for a configured server
        app.cleanup_ctx.append(sender_context(app[OUTBOX], settings.mail))
    if settings.turnstile is not None:  # sign-ups then carry a token checked with Cloudflare
        app.cleanup_ctx.append(turnstile.context(settings.turnstile, TURNSTILE))
    setup_routes(app)
    return app


async def _domain(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    fernet = MultiFernet([Fernet(key) for key in settings.secret_keys])
    app[SIGNING_KEYS] = SigningKeys(app[DB], fernet, settings.token_ttl_seconds)
    await app[SIGNING_KEYS].current()  # make sure a signing key exists before serving
    app[SECOND_FACTOR] = SecondFactor(app[DB], app[REDIS], fernet, settings.key_pepper)
    app[THROTTLE] = LoginThrottle(
        app[REDIS],
        LoginLimits(
            per_account=settings.login_failures_per_account,
            per_ip=settings.login_failures_per_ip,
            window_seconds=settings.login_window_seconds,
            per_account_all_sources=settings.login_failures_per_account_all_sources,
            known_source_days=settings.login_known_source_days,
            signups_per_ip=settings.signups_per_ip,
            signups_per_network=settings.signups_per_network,
            signup_window_seconds=settings.signup_window_seconds,
        ),
    )
    yield


async def _billing_client(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        app[BILLING] = BillingClient(session, settings.billing_url, settings.common.internal_token)
        yield
