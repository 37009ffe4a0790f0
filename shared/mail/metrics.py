"""The sender's metrics, in the service's registry (shared/metrics.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from shared.loop_metrics import LoopCounter


class MailMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = LoopCounter(
            "tollgate_mail_sent_total", "Mails the SMTP server accepted.", [], registry=registry
        )
        self.failed = LoopCounter(
            "tollgate_mail_failed_total",
            "Delivery attempts that failed, by outcome (retry: tried again later; dead: given up).",
            ["outcome"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "tollgate_mail_queue_depth",
            "Mails queued in this service's outbox and not yet sent (read by the sender).",
            registry=registry,
        )
        # Every series exists from the start: a rate over a series that appears late is wrong.
        self.sent.labels()
        for outcome in ("retry", "dead"):
            self.failed.labels(outcome)
