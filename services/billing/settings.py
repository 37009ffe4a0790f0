"""The billing service's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.billing.payments.payment_settings import PaymentSettings
from services.billing.redeem_throttle import RedeemLimits
from services.billing.spend_anomaly import AnomalySettings
from shared import settings as read
from shared.mail import settings as mail_settings
from shared.mail.settings import MailSettings
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
    # Billing's mail (the low-balance alert, services/billing/low_balance.py), as
    # auth's: SMTP_* and MAIL_* (shared/mail/settings.py); None: no sender runs
    # and mails wait in billing.outbox. Queued mails are encrypted with
    # TOLLGATE_SECRET_KEYS; links start at TOLLGATE_PUBLIC_URL.
    mail: MailSettings | None = None
    public_url: str = mail_settings.DEV_PUBLIC_URL
    # None: a key generated per process (tests; a service started without the
    # set logs a warning: its queued mails cannot be read after a restart).
    secret_keys: tuple[str, ...] | None = None
    # How often the alert mailer looks for queued alerts (tests: less).
    alert_poll_seconds: float = 1.0
    # Spend anomalies (services/billing/spend_anomaly.py): ANOMALY_MULTIPLE,
    # ANOMALY_FLOOR_USD, ANOMALY_QUIET_HOURS, ANOMALY_SUSPEND_KEY, ANOMALY_CHECK_SECONDS.
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        mode = read.mode(env)
        return cls(
            common=read.common(env, port_var="BILLING_PORT", default_port=8082),
            consumer=read.flag(env, "TOLLGATE_CONSUMER", True),
            lag_alert_seconds=read.integer(
                env, "BILLING_LAG_ALERT_SECONDS", 300, low=1, high=7 * 24 * 3600
            ),
            auth_url=read.url(env, "AUTH_URL", "http://127.0.0.1:8081", schemes=("http", "https")),
            payments=PaymentSettings.from_env(env),
            mail=mail_settings.from_env(env, dev=mode.dev),
            public_url=mail_settings.public_url(env),
            secret_keys=_secret_keys(env, mode),
            anomaly=AnomalySettings.from_env(env),
            redeem_limits=RedeemLimits(
                per_user=read.integer(env, "REDEEM_FAILURES_PER_USER", 10, low=1, high=10_000),
                per_ip=read.integer(env, "REDEEM_FAILURES_PER_IP", 30, low=1, high=100_000),
                window_seconds=read.integer(
                    env, "REDEEM_WINDOW_SECONDS", 900, low=1, high=7 * 24 * 3600
                ),
            ),
        )


def _secret_keys(env: Environ, mode: read.Mode) -> tuple[str, ...] | None:
    """The key set billing's outbox is sealed with: TOLLGATE_SECRET_KEYS (every
    service gets it in compose), generated in dev; None when unset outside dev
    (the CLI's billing commands, which send no mail, do not need it)."""
    if env.get("TOLLGATE_SECRET_KEYS", "").strip() or mode.dev:
        return read.fernet_keys(
            read.secret(env, "TOLLGATE_SECRET_KEYS", mode, read.fernet_secret),
            "TOLLGATE_SECRET_KEYS",
        )
    return None
