"""One usage result per relayed request: what happened and what it used.

`Meter` collects facts while the request runs (pure: it is handed times and
counts, it measures nothing itself); `Meter.finish` freezes them into a
`UsageResult`, whatever the outcome: success, upstream failure, client
disconnect, or refusal before any upstream call. The metering step publishes
this object as the usage event; nothing here holds prompt or completion text.

Which counts are billed (DESIGN.md §2.4 and §6):

- the provider's final usage when it came (`usage_source` `upstream`), even
  if the client left after it;
- else, for an answer that began or a request the upstream received before
  the client hung up (`estimated_usage` set by the relay), the estimate:
  for a call cut short (the client hung up, the upstream broke, or a stream
  ended without the event that carries its usage), `estimate.cut_short` of
  it and of what the provider reported on the way (`partial_usage`), marked
  `partial` (input plus delivered output); `usage_source` is `estimated`,
  since the output is;
- else nothing: refused, or failed upstream before any answer began (the
  provider bills no failed call, and the client was told it failed).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.gateway.metering.estimate import cut_short
from services.gateway.metering.provider_usage import TokenUsage
from shared.client_input import recordable
from shared.limits import Limit

# A user agent is recorded as sent, less NUL and undecodable bytes, cut to this.
USER_AGENT_MAX = 512

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
    partial: bool = False
    limits: tuple[Limit, ...] = ()  # taken at admission; finished with the event
    price_multiplier: Decimal = Decimal(1)  # the caller's group's (DESIGN 13)
    # Its hold was refused after its upstream request had gone (relay/optimistic_hold.py):
    # cancelled, nothing delivered, nothing charged; no usage event.
    upstream_cancelled: bool = False

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
            "partial": self.partial,
            "ttfb_ms": self.ttfb_ms,
            "latency_ms": self.latency_ms,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "hold_id": self.hold_id,
            "hold_amount": None if self.hold_amount is None else format(self.hold_amount, "f"),
            "attempts": self.attempts,
            "price_multiplier": format(self.price_multiplier, "f"),
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
    upstream_usage: TokenUsage | None = None  # the provider's final usage
    partial_usage: TokenUsage | None = None  # what it reported before its end
    estimated_usage: TokenUsage | None = None  # set once the upstream has the request
    # The current attempt's request was written to the upstream: a client
    # hanging up from here on is billed its input.
    reached_upstream: bool = False
    limits: tuple[Limit, ...] = ()  # taken with the hold (shared/limits.py)
    hold_id: str | None = None
    hold_amount: Decimal | None = None
    attempts: int = 0
    price_multiplier: Decimal = Decimal(1)  # set with the principal: the hold and cost carry it
    upstream_cancelled: bool = False  # by a hold refused after it went (optimistic_hold)

    def fail(self, status: Outcome, http_status: int, error_code: str) -> None:
        self.status, self.http_status, self.error_code = status, http_status, error_code

    def sent_upstream(self) -> None:
        self.reached_upstream = True

    def finish(self, now: float) -> UsageResult:
        partial = False
        if self.upstream_usage is not None:
            tokens, source = self.upstream_usage, UsageSource.UPSTREAM
        elif self.estimated_usage is None:
            tokens, source = TokenUsage(), UsageSource.ESTIMATED
        elif self.status is Outcome.OK and self.partial_usage is None:
            # A whole answer, or a stream that ended in order, without usage.
            tokens, source = self.estimated_usage, UsageSource.ESTIMATED
        else:
            tokens = cut_short(self.estimated_usage, self.partial_usage)
            source, partial = UsageSource.ESTIMATED, True
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
            user_agent=recordable(self.user_agent, USER_AGENT_MAX),
            hold_id=self.hold_id,
            hold_amount=self.hold_amount,
            attempts=self.attempts,
            partial=partial,
            limits=self.limits,
            price_multiplier=self.price_multiplier,
            upstream_cancelled=self.upstream_cancelled,
        )
