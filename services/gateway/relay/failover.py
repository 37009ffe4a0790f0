"""Failover: trying the channels that serve a model until one answers.

Before the first byte reaches the client, an attempt that fails (connect
error, timeout, 429, 5xx, 401/403, a redirect, an answer that broke off) moves
the request to the next channel: the highest priority among the usable ones
not yet tried, then by weight (`channels.choose`). At most `max_attempts`
channels are tried. A 4xx that is the request's own fault is the client's
answer at once: another channel would refuse it too.

Every attempt is counted per channel (requests, errors by kind, time to first
byte) and fed to that channel's health; a failed one is logged with the
channel id. A 401/403 shuts the channel off here at once and asks, in the
background, for it to be disabled on every gateway process.

When no channel may take the request right now, the answer is 429 if every
one of them is waiting out a rate limit, else 503; both say when to retry.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from services.gateway.channels.choice import Channel, Timeouts, choose
from services.gateway.channels.health import ChannelHealth
from services.gateway.channels.metrics import ChannelMetrics
from services.gateway.metering.usage_result import Meter
from services.gateway.relay.apis import Api
from services.gateway.relay.attempt import Answer, FailureKind, UpstreamFailure, attempt
from services.gateway.relay.wire import Inspected
from services.gateway.upstream.client import UpstreamClient
from shared.errors import RetryLater, TooManyRequests

_log = logging.getLogger("tollgate.relay")


class NoHealthyChannel(RetryLater):
    status = 503
    code = "no_healthy_channel"


@dataclass(frozen=True, kw_only=True)
class RoutingPolicy:
    max_attempts: int
    timeouts: Timeouts


@dataclass(frozen=True, kw_only=True)
class Upstreams:
    """Upstream clients: guarded (public addresses only), and open for allowed channels."""

    guarded: UpstreamClient
    open: UpstreamClient

    def for_channel(self, channel: Channel) -> UpstreamClient:
        return self.open if channel.allow_private_network else self.guarded


class Router:
    def __init__(
        self,
        upstreams: Upstreams,
        health: ChannelHealth,
        metrics: ChannelMetrics,
        policy: RoutingPolicy,
        on_auth_failure: Callable[[Channel], None],
    ) -> None:
        self._upstreams = upstreams
        self._health = health
        self._metrics = metrics
        self._policy = policy
        self._on_auth_failure = on_auth_failure

    @property
    def default_timeouts(self) -> Timeouts:
        return self._policy.timeouts

    async def open(
        self,
        api: Api,
        inspected: Inspected,
        model: str,
        candidates: Sequence[Channel],
        *,
        path: str,
        client_headers: Mapping[str, str],
        meter: Meter,
    ) -> tuple[Channel, Answer]:
        """The first channel's answer that started well, with the channel."""
        tried: set[uuid.UUID] = set()
        last: UpstreamFailure | None = None
        health = self._health
        for number in range(1, self._policy.max_attempts + 1):
            now = time.monotonic()
            channel = choose(candidates, functools.partial(_usable, health, tried, now))
            if channel is None:
                break
            tried.add(channel.id)
            meter.attempts = number
            meter.channel_id, meter.upstream_model = channel.id, channel.upstream_model(model)
            meter.reached_upstream = False  # a failed attempt before this one is not billed
            health.begin(channel, now)
            started = time.perf_counter()
            try:
                answer = await attempt(
                    self._upstreams.for_channel(channel),
                    channel,
                    api,
                    inspected,
                    model=model,
                    path=path,
                    client_headers=client_headers,
                    timeouts=channel.timeouts(self._policy.timeouts),
                    on_sent=meter.sent_upstream,
                )
            except UpstreamFailure as failure:
                self._failed(channel, failure, number, time.perf_counter() - started)
                if not failure.fails_over:
                    raise
                last = failure
                continue
            except BaseException:
                health.abandon(channel)  # cancelled: no verdict on the channel
                raise
            health.succeeded(channel, time.monotonic())
            health.used(channel, time.time())
            self._metrics.attempted(channel, None, answer.first_byte_at - started)
            return channel, answer
        if last is not None:
            raise last
        raise self._none_usable(model, candidates)

    def _failed(
        self, channel: Channel, failure: UpstreamFailure, number: int, seconds: float
    ) -> None:
        now = time.monotonic()
        health = self._health
        if failure.kind is FailureKind.CLIENT_ERROR:
            health.succeeded(channel, now)
        elif failure.kind is FailureKind.RATE_LIMITED:
            health.rate_limited(channel, now, failure.retry_after_seconds())
        elif failure.kind is FailureKind.AUTH_FAILED:
            health.failed(channel, now)
            if health.shut_off(channel):
                self._on_auth_failure(channel)
        else:
            health.failed(channel, now)
        health.used(channel, time.time(), f"{failure.kind.value}: {failure.message}")
        self._metrics.attempted(channel, failure.kind, seconds)
        _log.warning(
            "upstream attempt failed",
            extra={
                "channel_id": str(channel.id),
                "channel": channel.name,
                "attempt": number,
                "kind": failure.kind.value,
                "error_code": failure.code,
                "elapsed_ms": round(seconds * 1000, 3),
                "fails_over": failure.fails_over,
            },
        )

    def _none_usable(self, model: str, candidates: Sequence[Channel]) -> Exception:
        now = time.monotonic()
        at = self._health.available_at(candidates, now)
        retry_after = 60 if at is None else math.ceil(at - now)
        if self._health.all_cooling(candidates, now):
            return TooManyRequests(
                f"every channel serving {model} is rate limited; retry later",
                retry_after=retry_after,
            )
        return NoHealthyChannel(
            f"no healthy channel serves {model} right now; retry later", retry_after=retry_after
        )


def _usable(health: ChannelHealth, tried: set[uuid.UUID], now: float, channel: Channel) -> bool:
    return channel.id not in tried and health.usable(channel, now)
