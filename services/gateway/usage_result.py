"""One usage result per relayed request: what happened and what it used.

`Meter` collects facts while the request runs (pure: it is handed times and
counts, it measures nothing itself); `Meter.finish` freezes them into a
`UsageResult`, whatever the outcome: success, upstream failure, client
disconnect, or refusal before any upstream call. The metering step publishes
this object as the usage event; nothing here holds prompt or completion text.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.gateway.usage import TokenUsage

# The same users, keys and channels come back request after request: their ids'
# text is made once (UUID.__str__ costs about 0.8 us, three times per result).
_id_text = functools.lru_cache(maxsize=1 << 16)(uuid.UUID.__str__)


class Outcome(StrEnum):
    OK = "ok"
    UPSTREAM_ERROR = "upstream_error"
    CLIENT_DISCONNECTED = "client_disconnected"
    REJECTED = "rejected"


class UsageSource(StrEnum):
    UPSTREAM = "upstream"
    ESTIMATED = "estimated"


@dataclass(slots=True, kw_only=True)  # not frozen: its __init__ would cost 8 us more per request
class UsageResult:
    request_id: str
    endpoint: str
    started_at: datetime
    user_id: uuid.UUID | None
    key_id: uuid.UUID | None
    channel_id: uuid.UUID | None
    requested_model: str | None
    upstream_model: str | None
    stream: bool
    status: Outcome
    http_status: int
    error_code: str | None
    tokens: TokenUsage
    usage_source: UsageSource
    ttfb_ms: float | None
    latency_ms: float
    client_ip: str | None
    user_agent: str | None
    hold_id: str | None = None
    hold_amount: Decimal | None = None
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types, for logs and events."""
        return {
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "started_at": self.started_at.isoformat(),
            "user_id": None if self.user_id is None else _id_text(self.user_id),
            "key_id": None if self.key_id is None else _id_text(self.key_id),
            "channel_id": None if self.channel_id is None else _id_text(self.channel_id),
            "requested_model": self.requested_model,
            "upstream_model": self.upstream_model,
            "stream": self.stream,
            "status": self.status.value,
            "http_status": self.http_status,
            "error_code": self.error_code,
            "input_tokens": self.tokens.input_tokens,
            "output_tokens": self.tokens.output_tokens,
            "cache_read_tokens": self.tokens.cache_read_tokens,
            "cache_write_tokens": self.tokens.cache_write_tokens,
            "reasoning_tokens": self.tokens.reasoning_tokens,
            "web_search_requests": self.tokens.web_search_requests,
            "usage_source": self.usage_source.value,
            "ttfb_ms": self.ttfb_ms,
            "latency_ms": self.latency_ms,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "hold_id": self.hold_id,
            "hold_amount": None if self.hold_amount is None else format(self.hold_amount, "f"),
            "attempts": self.attempts,
        }


@dataclass(slots=True, kw_only=True)
class Meter:
    """The facts of one request as they become known."""

    request_id: str
    endpoint: str
    started: float
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    client_ip: str | None = None
    user_agent: str | None = None
    user_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None
    requested_model: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    status: Outcome = Outcome.REJECTED
    http_status: int = 500
    error_code: str | None = None
    first_byte: float | None = None
    upstream_usage: TokenUsage | None = None
    estimated_usage: TokenUsage | None = None
    hold_id: str | None = None
    hold_amount: Decimal | None = None
    attempts: int = 0

    def fail(self, status: Outcome, http_status: int, error_code: str) -> None:
        self.status, self.http_status, self.error_code = status, http_status, error_code

    def finish(self, now: float) -> UsageResult:
        if self.upstream_usage is not None:
            tokens, source = self.upstream_usage, UsageSource.UPSTREAM
        else:
            tokens = self.estimated_usage or TokenUsage()
            source = UsageSource.ESTIMATED
        return UsageResult(
            request_id=self.request_id,
            endpoint=self.endpoint,
            started_at=self.started_at,
            user_id=self.user_id,
            key_id=self.key_id,
            channel_id=self.channel_id,
            requested_model=self.requested_model,
            upstream_model=self.upstream_model,
            stream=self.stream,
            status=self.status,
            http_status=self.http_status,
            error_code=self.error_code,
            tokens=tokens,
            usage_source=source,
            ttfb_ms=None
            if self.first_byte is None
            else round((self.first_byte - self.started) * 1000, 3),
            latency_ms=round((now - self.started) * 1000, 3),
            client_ip=self.client_ip,
            user_agent=self.user_agent,
            hold_id=self.hold_id,
            hold_amount=self.hold_amount,
            attempts=self.attempts,
        )
