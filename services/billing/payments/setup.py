"""Wiring top-ups into the billing app: its providers, settings, clock and alerts.

`setup(app, settings)` makes one provider per name in PAYMENT_PROVIDERS at
start-up (closed at shutdown), logs `PaymentSettings.warnings()` (an enabled
provider without its webhook secret), and keeps under app keys what the
top-up and webhook handlers read. Tests replace `CLOCK` to move time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from services.billing.payments.payment_settings import PaymentSettings
from services.billing.payments.provider import PaymentProvider
from services.billing.payments.stripe_provider import StripeProvider
from shared.metrics import METRICS

_log = logging.getLogger(__name__)


class PaymentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.alerts = Counter(
            "tollgate_billing_payment_alerts",
            "Verified payment events that credited nothing because they did not match "
            "their order (amount, currency, provider, unknown order), by provider and reason.",
            ["provider", "reason"],
            registry=registry,
        )
        self.refused = Counter(
            "tollgate_billing_webhooks_refused",
            "Webhooks refused before parsing (bad, missing or stale signature; no secret).",
            ["provider"],
            registry=registry,
        )
        self.credited = Counter(
            "tollgate_billing_topups_credited",
            "Top-up orders credited, by provider.",
            ["provider"],
            registry=registry,
        )


class Clock:
    """Unix seconds now; tests move it (`clock.offset += 3600`)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


PAYMENT_SETTINGS = web.AppKey("payment_settings", PaymentSettings)
PROVIDERS = web.AppKey("payment_providers", dict[str, PaymentProvider])
CLOCK = web.AppKey("payment_clock", Clock)
PAYMENT_METRICS = web.AppKey("payment_metrics", PaymentMetrics)


def make_providers(settings: PaymentSettings) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    for name in settings.providers:
        if name == "stripe":
            assert settings.stripe.secret_key  # payment_settings refuses it missing
            providers[name] = StripeProvider(
                secret_key=settings.stripe.secret_key,
                webhook_secret=settings.stripe.webhook_secret,
                api_base=settings.stripe.api_base,
            )
        elif name == "creem":
            from services.billing.payments.creem_provider import CreemProvider

            providers[name] = CreemProvider(settings.creem)
    return providers


def setup(app: web.Application, settings: PaymentSettings) -> None:
    app[PAYMENT_SETTINGS] = settings
    app[CLOCK] = Clock()
    app[PAYMENT_METRICS] = PaymentMetrics(app[METRICS].registry)
    app.cleanup_ctx.append(_providers)


async def _providers(app: web.Application) -> AsyncIterator[None]:
    settings = app[PAYMENT_SETTINGS]
    for warning in settings.warnings():
        _log.warning("payment webhooks refused", extra={"reason": warning})
    if PROVIDERS not in app:  # tests may install their own
        app[PROVIDERS] = make_providers(settings)
    try:
        yield
    finally:
        for provider in app[PROVIDERS].values():
            try:
                await provider.close()
            except Exception:
                _log.exception("closing a payment provider failed")
