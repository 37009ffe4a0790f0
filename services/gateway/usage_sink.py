"""Where each request's `UsageResult` goes.

Today: the relay metrics and one log line of counts (never content). The
metering step adds publishing the result as a usage event.
"""

from __future__ import annotations

import logging
from typing import Protocol

from services.gateway.relay_metrics import RelayMetrics
from services.gateway.usage_result import UsageResult

_log = logging.getLogger("tollgate.relay")


class UsageSink(Protocol):
    async def record(self, result: UsageResult) -> None: ...


class MetricsAndLog:
    def __init__(self, metrics: RelayMetrics) -> None:
        self._metrics = metrics

    async def record(self, result: UsageResult) -> None:
        self._metrics.observe(result)
        _log.info("relayed", extra={"usage": result.as_dict()})
