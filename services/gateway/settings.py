"""The gateway's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared import settings as read
from shared.holds import HOLD_TTL_MS
from shared.limits import SLOT_TTL_MS
from shared.mail import settings as mail_settings
from shared.settings import Common, Environ


@dataclass(frozen=True, kw_only=True)
class Settings:
    common: Common
    auth_url: str
    billing_url: str
    usage_url: str
    jwt_issuer: str
    trust_forwarded_for: bool
    key_cache_seconds: int
    secret_keys: tuple[str, ...]
    max_body_bytes: int
    upstream_connect_timeout: float
    upstream_first_byte_timeout: float
    upstream_idle_timeout: float
    spool_dir: Path
    max_attempts: int = 3
    probe_seconds: int = 60
    breaker_failures: int = 5
    breaker_open_seconds: int = 15
    # How long an unrenewed hold lasts before it may expire (and then only once
    # billing's watermark passed it: shared/holds.py). Tests shorten it.
    hold_ttl_ms: int = HOLD_TTL_MS
    # How long a concurrency slot outlives its gateway (renewed every third of it
    # while its request runs: shared/limits.py). GATEWAY_SLOT_TTL_SECONDS.
    slot_ttl_ms: int = SLOT_TTL_MS
    # The hold off the latency path (relay/optimistic_hold.py): a request whose
    # user's last-known available balance is at least this many times its worst
    # case sends its hold and its upstream request together; 0: never.
    # GATEWAY_OPTIMISTIC_HOLD_MULTIPLE.
    optimistic_hold_multiple: int = 4
    # Browser sessions: the console's origin is that of TOLLGATE_PUBLIC_URL (the
    # only Origin a cookie-authenticated unsafe request may carry); the cookie's
    # name follows SESSION_COOKIE_SECURE as auth reads it; a cached session is
    # verified with auth again after GATEWAY_SESSION_CACHE_SECONDS (idle expiry
    # and last use depend on it; revocation does not wait for it).
    public_url: str = mail_settings.DEV_PUBLIC_URL
    session_cookie_secure: bool = True
    session_cache_seconds: int = 30
    # Where every path outside the API, model and health paths goes (the web console).
    console_url: str = "http://127.0.0.1:8084"

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        def service_url(name: str, default_port: int) -> str:
            default = f"http://127.0.0.1:{default_port}"
            return read.url(env, name, default, schemes=("http", "https"))

        mode = read.mode(env)
        return cls(
            common=read.common(env, port_var="GATEWAY_PORT", default_port=8080),
            secret_keys=read.fernet_keys(
                read.secret(env, "TOLLGATE_SECRET_KEYS", mode, read.fernet_secret),
                "TOLLGATE_SECRET_KEYS",
            ),
            max_body_bytes=read.integer(
                env, "GATEWAY_MAX_BODY_BYTES", 10 * 1024 * 1024, low=1024, high=1024**3
            ),
            upstream_connect_timeout=read.integer(
                env, "UPSTREAM_CONNECT_TIMEOUT_SECONDS", 10, low=1, high=600
            ),
            upstream_first_byte_timeout=read.integer(
                env, "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", 300, low=1, high=3600
            ),
            upstream_idle_timeout=read.integer(
                env, "UPSTREAM_IDLE_TIMEOUT_SECONDS", 300, low=1, high=3600
            ),
            spool_dir=Path(env.get("GATEWAY_SPOOL_DIR") or str(mode.data_dir / "spool")),
            max_attempts=read.integer(env, "GATEWAY_MAX_ATTEMPTS", 3, low=1, high=10),
            probe_seconds=read.integer(env, "GATEWAY_PROBE_SECONDS", 60, low=1, high=3600),
            breaker_failures=read.integer(env, "GATEWAY_BREAKER_FAILURES", 5, low=1, high=1000),
            breaker_open_seconds=read.integer(
                env, "GATEWAY_BREAKER_OPEN_SECONDS", 15, low=1, high=3600
            ),
            auth_url=service_url("AUTH_URL", 8081),
            billing_url=service_url("BILLING_URL", 8082),
            usage_url=service_url("USAGE_URL", 8083),
            jwt_issuer=read.text(env, "TOLLGATE_JWT_ISSUER", "tollgate"),
            trust_forwarded_for=read.flag(env, "GATEWAY_TRUST_FORWARDED_FOR", False),
            key_cache_seconds=read.integer(env, "GATEWAY_KEY_CACHE_SECONDS", 60, low=1, high=3600),
            public_url=mail_settings.public_url(env),
            session_cookie_secure=read.flag(env, "SESSION_COOKIE_SECURE", not mode.dev),
            session_cache_seconds=read.integer(
                env, "GATEWAY_SESSION_CACHE_SECONDS", 30, low=1, high=300
            ),
            console_url=service_url("CONSOLE_URL", 8084),
            slot_ttl_ms=1000
            * read.integer(env, "GATEWAY_SLOT_TTL_SECONDS", SLOT_TTL_MS // 1000, low=3, high=3600),
            optimistic_hold_multiple=read.integer(
                env, "GATEWAY_OPTIMISTIC_HOLD_MULTIPLE", 4, low=0, high=1000
            ),
        )
