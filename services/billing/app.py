"""The billing application: balances, the ledger, prices and credits.

Its consumer (group `billing`) charges usage events from the stream
(`consumer.BillingConsumer`: `charging.charge_batch`, then hold settlement)
and trims the stream below what every group has acknowledged; the HTTP side
reads balances and statements, manages prices and grants credits. With
`TOLLGATE_CONSUMER=false` the process serves the HTTP side only (an API-only
replica; the stream is left to the consumer replicas). A consuming process
also publishes billing's watermark, by which holds expire (`progress`).
"""

from __future__ import annotations

import logging

from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet

from services.billing import (
    anomaly_alerts,
    low_balance,
    progress,
    reconcile_admin,
    redeem_handlers,
    spend_anomaly,
    user_directory,
)
from services.billing.consumer import BillingConsumer, ChargeMetrics
from services.billing.payments import reconciler
from services.billing.payments import setup as payments
from services.billing.routes import setup_routes
from services.billing.settings import Settings
from shared.consuming import consuming
from shared.holds import Holds
from shared.mail.outbox import Outbox
from shared.mail.sender import sender_context
from shared.metrics import METRICS
from shared.service import DB, REDIS, base_app
from shared.stream_consumer import Handler


def create_app(settings: Settings) -> web.Application:
    app = base_app("billing", settings.common, internal=True)
    app.cleanup_ctx.append(
        user_directory.directory(settings.auth_url, settings.common.internal_token)
    )
    if settings.consumer:
        app.cleanup_ctx.append(consuming("billing", settings.common, _handler, trims=True))
        app.cleanup_ctx.append(progress.publishing(settings.lag_alert_seconds))
    reconcile_admin.setup(app, settings.common)
    payments.setup(app, settings.payments)
    if settings.consumer:
        app.cleanup_ctx.append(
            reconciler.reconciling(
                settings.payments.reconcile_seconds, settings.payments.reconcile_after_seconds
            )
        )
        app.cleanup_ctx.append(spend_anomaly.detecting(settings.anomaly))
    app[redeem_handlers.LIMITS] = settings.redeem_limits
    _mail(app, settings)
    setup_routes(app)
    return app


_log = logging.getLogger(__name__)
# Settings built without keys (tests): one key for every billing app in the process,
# so any of them can send what another queued.
_PROCESS_KEY = Fernet.generate_key().decode()


def _mail(app: web.Application, settings: Settings) -> None:
    """Billing's outbox (the low-balance alert, spend anomalies), their mailers
    and, with SMTP configured, its sender; else mails wait in billing.outbox."""
    if settings.secret_keys is None and settings.mail is not None:
        _log.warning("TOLLGATE_SECRET_KEYS unset: mails queued now are lost if billing restarts")
    keys = settings.secret_keys or (_PROCESS_KEY,)
    app[low_balance.OUTBOX] = Outbox("billing.outbox", MultiFernet([Fernet(k) for k in keys]))
    app[low_balance.PUBLIC_URL] = settings.public_url
    app.cleanup_ctx.append(low_balance.mailing(settings.alert_poll_seconds))
    app.cleanup_ctx.append(
        anomaly_alerts.working(
            settings.auth_url,
            settings.common.internal_token,
            settings.alert_poll_seconds,
            settings.anomaly.quiet_hours,
        )
    )
    if settings.mail is not None:
        app.cleanup_ctx.append(sender_context(app[low_balance.OUTBOX], settings.mail))


def _handler(app: web.Application) -> Handler:
    consumer = BillingConsumer(app[DB], Holds(app[REDIS]), ChargeMetrics(app[METRICS].registry))
    return consumer.handle
