"""The console's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from services.console import analytics
from shared import settings as read
from shared.mail import settings as mail_settings
from shared.settings import Common, Environ


@dataclass(frozen=True, kw_only=True)
class Settings:
    common: Common
    # Where the console calls the JSON API: the gateway's own `/api/*`, on loopback.
    gateway_url: str = "http://127.0.0.1:8080"
    # The origin browsers see (a form post from any other Origin is refused).
    public_url: str = mail_settings.DEV_PUBLIC_URL
    # Optional product analytics (`analytics.py`): off unless a project key is given.
    posthog_key: str | None = None
    posthog_host: str = analytics.US_HOST
    # The mock payment provider's public URL (`tollgate dev`): besides https
    # checkout pages, the top-up form may send browsers to its (plain http) ones.
    mock_payments_url: str = ""

    @property
    def product_analytics(self) -> analytics.Analytics | None:
        return analytics.configured(self.posthog_key, self.posthog_host)

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        return cls(
            common=read.common(env, port_var="CONSOLE_PORT", default_port=8084),
            gateway_url=read.url(
                env, "GATEWAY_URL", "http://127.0.0.1:8080", schemes=("http", "https")
            ),
            public_url=mail_settings.public_url(env),
            posthog_key=env.get("POSTHOG_KEY") or None,
            posthog_host=read.url(
                env, "POSTHOG_HOST", analytics.US_HOST, schemes=("https", "http")
            ),
            mock_payments_url=(
                read.url(env, "MOCKPAYMENTS_PUBLIC_URL", "", schemes=("http", "https"))
                if env.get("MOCKPAYMENTS_PUBLIC_URL", "").strip()
                else ""
            ),
        )
