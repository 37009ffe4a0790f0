"""The auth service's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from services.auth import oauth_providers, turnstile
from services.auth.oauth_providers import Provider
from services.auth.turnstile import TurnstileSettings
from shared import settings as read
from shared.mail import settings as mail_settings
from shared.mail.settings import MailSettings
from shared.settings import Common, Environ

JWT_AUDIENCE = "tollgate-api"


@dataclass(frozen=True, kw_only=True)
class Settings:
    common: Common
    secret_keys: tuple[str, ...]
    key_pepper: str
    jwt_issuer: str
    token_ttl_seconds: int
    billing_url: str
    login_failures_per_account: int
    login_failures_per_ip: int
    login_window_seconds: int
    # Login past this many failures over all sources: known sources only;
    # sign-ups per source and per /24 (IPv4) or /56 (IPv6) network.
    login_failures_per_account_all_sources: int = 50
    login_known_source_days: int = 90
    signups_per_ip: int = 20
    signups_per_network: int = 100
    signup_window_seconds: int = 3600
    # Links in mails start here (TOLLGATE_PUBLIC_URL); None mail: no sender runs
    # and mails wait in auth.outbox (no SMTP_HOST outside dev).
    public_url: str = mail_settings.DEV_PUBLIC_URL
    mail: MailSettings | None = None
    # Browser sessions (DESIGN 7): SESSION_IDLE_SECONDS without use ends one
    # (default a day), SESSION_ABSOLUTE_SECONDS after sign-in at the latest
    # (default 30 days); the cookie is Secure unless SESSION_COOKIE_SECURE is
    # off (default: on, off in dev and test).
    session_idle_seconds: int = 86400
    session_absolute_seconds: int = 30 * 86400
    session_cookie_secure: bool = True
    # Sign-up protection (issue 16, point 8): refuse disposable email domains
    # (AUTH_REFUSE_DISPOSABLE_EMAIL, default off); Cloudflare Turnstile, off
    # unless TURNSTILE_SECRET_KEY is set (see `turnstile`).
    refuse_disposable_email: bool = False
    turnstile: TurnstileSettings | None = None
    # Unverified accounts may not create API keys nor relay with one
    # (AUTH_REQUIRE_VERIFIED_EMAIL; default on, off in dev and test).
    require_verified_email: bool = True
    # Sign in with Google and GitHub: each enabled by its client id and secret
    # (GOOGLE_*, GITHUB_*; see `oauth_providers`).
    oauth_providers: tuple[Provider, ...] = ()

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        mode = read.mode(env)
        pepper = read.secret(env, "TOLLGATE_KEY_PEPPER", mode, read.token_secret)
        if len(pepper) < 32:
            raise read.SettingsError("TOLLGATE_KEY_PEPPER must be at least 32 characters")
        return cls(
            common=read.common(env, port_var="AUTH_PORT", default_port=8081),
            secret_keys=read.fernet_keys(
                read.secret(env, "TOLLGATE_SECRET_KEYS", mode, read.fernet_secret),
                "TOLLGATE_SECRET_KEYS",
            ),
            key_pepper=pepper,
            jwt_issuer=read.text(env, "TOLLGATE_JWT_ISSUER", "tollgate"),
            token_ttl_seconds=read.integer(
                env, "TOLLGATE_TOKEN_TTL_SECONDS", 3600, low=60, high=86400
            ),
            billing_url=read.url(
                env, "BILLING_URL", "http://127.0.0.1:8082", schemes=("http", "https")
            ),
            login_failures_per_account=read.integer(
                env, "LOGIN_FAILURES_PER_ACCOUNT", 5, low=1, high=1000
            ),
            login_failures_per_ip=read.integer(
                env, "LOGIN_FAILURES_PER_IP", 30, low=1, high=100000
            ),
            login_window_seconds=read.integer(env, "LOGIN_WINDOW_SECONDS", 900, low=1, high=86400),
            login_failures_per_account_all_sources=read.integer(
                env, "LOGIN_FAILURES_PER_ACCOUNT_ALL_SOURCES", 50, low=1, high=1000000
            ),
            login_known_source_days=read.integer(
                env, "LOGIN_KNOWN_SOURCE_DAYS", 90, low=1, high=3650
            ),
            signups_per_ip=read.integer(env, "SIGNUPS_PER_IP", 20, low=1, high=100000),
            signups_per_network=read.integer(env, "SIGNUPS_PER_NETWORK", 100, low=1, high=1000000),
            signup_window_seconds=read.integer(
                env, "SIGNUP_WINDOW_SECONDS", 3600, low=1, high=604800
            ),
            public_url=mail_settings.public_url(env),
            mail=mail_settings.from_env(env, dev=mode.dev),
            session_idle_seconds=read.integer(
                env, "SESSION_IDLE_SECONDS", 86400, low=60, high=365 * 86400
            ),
            session_absolute_seconds=read.integer(
                env, "SESSION_ABSOLUTE_SECONDS", 30 * 86400, low=300, high=365 * 86400
            ),
            session_cookie_secure=read.flag(env, "SESSION_COOKIE_SECURE", not mode.dev),
            refuse_disposable_email=read.flag(env, "AUTH_REFUSE_DISPOSABLE_EMAIL", False),
            turnstile=turnstile.from_env(env, mail_settings.public_url(env)),
            require_verified_email=read.flag(env, "AUTH_REQUIRE_VERIFIED_EMAIL", not mode.dev),
            oauth_providers=oauth_providers.from_env(env),
        )
