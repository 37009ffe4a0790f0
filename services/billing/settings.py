"""The billing service's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.billing.payments.payment_settings import PaymentSettings
from services.billing.redeem_throttle import RedeemLimits
from shared import settings as read
from shared.settings import Common, Environ


@dataclass(frozen=True, kw_only=True)
class Settings:
    common: Common
    # False: serve the HTTP API only and leave the usage stream to other
    # replicas (API-only and consumer replicas scale separately).
    consumer: bool = True
    # Billing's lag (now minus its watermark: services/billing/progress.py) past
    # which it logs a warning; the Prometheus rule compares against it too.
    lag_alert_seconds: int = 300
    # Asked whether a user exists before a credit (services/billing/user_directory.py).
    auth_url: str = "http://127.0.0.1:8081"
    # Top-ups: enabled providers, currency, bounds, keys (payments/payment_settings.py).
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    # Refused redemption codes a user, and a source, may try per window.
    redeem_limits: RedeemLimits = field(default_factory=RedeemLimits)

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        return cls(
            common=read.common(env, port_var="BILLING_PORT", default_port=8082),
            consumer=read.flag(env, "TOLLGATE_CONSUMER", True),
            lag_alert_seconds=read.integer(
                env, "BILLING_LAG_ALERT_SECONDS", 300, low=1, high=7 * 24 * 3600
            ),
            auth_url=read.url(env, "AUTH_URL", "http://127.0.0.1:8081", schemes=("http", "https")),
            payments=PaymentSettings.from_env(env),
            redeem_limits=RedeemLimits(
                per_user=read.integer(env, "REDEEM_FAILURES_PER_USER", 10, low=1, high=10_000),
                per_ip=read.integer(env, "REDEEM_FAILURES_PER_IP", 30, low=1, high=100_000),
                window_seconds=read.integer(
                    env, "REDEEM_WINDOW_SECONDS", 900, low=1, high=7 * 24 * 3600
                ),
            ),
        )
