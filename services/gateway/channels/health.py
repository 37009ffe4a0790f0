"""Health of every channel, as this gateway process has seen it. Pure: no IO.

One breaker per channel (see `breaker`), fed by the outcome of each attempt:

- connect errors, timeouts, 5xx, redirects, a refused address, an answer that
  broke off: failures;
- 429: a cool-down until the upstream's `Retry-After` (or a default), neither
  success nor failure;
- 401/403: the channel is shut off here at once, and the relay asks for it to
  be disabled for every process (it stays so until an operator re-enables it
  or a probe succeeds);
- any other answer, an upstream 400 included: success (the upstream is up;
  the request was at fault).

Health is per process on purpose: no shared state on the hot path, and each
process learns within a few requests what the others learnt.

Beside the breakers, each channel's activity in this process (attempts,
failed ones, when it was last used, its last failure and when) is kept for
the admin channel list (`report`); the caller passes the wall clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.gateway.channels.breaker import Breaker, BreakerPolicy, BreakerState
from services.gateway.channels.choice import Channel

DEFAULT_COOL_DOWN_SECONDS = 5.0
MAX_COOL_DOWN_SECONDS = 600.0


@dataclass(slots=True)
class Activity:
    """A channel's attempts in this process since it started (or the channel was added)."""

    requests: int = 0
    errors: int = 0
    last_used_at: float | None = None  # wall clock, seconds
    last_error: str | None = None
    last_error_at: float | None = None


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()


class ChannelHealth:
    def __init__(self, policy: BreakerPolicy) -> None:
        self._policy = policy
        self._breakers: dict[uuid.UUID, Breaker] = {}
        self._activity: dict[uuid.UUID, Activity] = {}
        self._revisions: dict[uuid.UUID, object] = {}
        self._shut_off: set[uuid.UUID] = set()

    def sync(self, channels: Iterable[Channel]) -> None:
        """Follow the channel table: a changed channel starts afresh, a removed one is gone."""
        current = {channel.id: channel.updated_at for channel in channels}
        for channel_id in list(self._breakers):
            if channel_id not in current or current[channel_id] != self._revisions[channel_id]:
                del self._breakers[channel_id], self._revisions[channel_id]
                self._shut_off.discard(channel_id)
        for channel_id in list(self._activity):
            if channel_id not in current:
                del self._activity[channel_id]
        for channel_id, revision in current.items():
            if channel_id not in self._breakers:
                self._breakers[channel_id] = Breaker(self._policy)
                self._revisions[channel_id] = revision

    def breaker(self, channel_id: uuid.UUID) -> Breaker:
        found = self._breakers.get(channel_id)
        if found is None:
            found = self._breakers[channel_id] = Breaker(self._policy)
            self._revisions[channel_id] = None
        return found

    def usable(self, channel: Channel, now: float) -> bool:
        return channel.id not in self._shut_off and self.breaker(channel.id).usable(now)

    def begin(self, channel: Channel, now: float) -> bool:
        return self.breaker(channel.id).begin(now)

    def abandon(self, channel: Channel) -> None:
        self.breaker(channel.id).abandon()

    def succeeded(self, channel: Channel, now: float) -> None:
        self.breaker(channel.id).succeeded(now)

    def failed(self, channel: Channel, now: float) -> None:
        self.breaker(channel.id).failed(now)

    def rate_limited(self, channel: Channel, now: float, retry_after: float | None) -> None:
        seconds = DEFAULT_COOL_DOWN_SECONDS if retry_after is None else retry_after
        self.breaker(channel.id).cool_down(now + min(max(seconds, 0.0), MAX_COOL_DOWN_SECONDS))
        self.breaker(channel.id).abandon()

    def shut_off(self, channel: Channel) -> bool:
        """Stop using a channel whose key the upstream refused; False if already done."""
        if channel.id in self._shut_off:
            return False
        self._shut_off.add(channel.id)
        self.breaker(channel.id).abandon()
        return True

    def is_shut_off(self, channel_id: uuid.UUID) -> bool:
        return channel_id in self._shut_off

    def available_at(self, channels: Iterable[Channel], now: float) -> float | None:
        """The soonest time one of these channels takes requests again (None: never by itself)."""
        times = [
            self.breaker(c.id).available_at(now) for c in channels if c.id not in self._shut_off
        ]
        return min(times) if times else None

    def all_cooling(self, channels: Iterable[Channel], now: float) -> bool:
        """Is every one of these channels only waiting out a rate limit?"""
        found = [c for c in channels if c.id not in self._shut_off]
        return bool(found) and all(
            now < self.breaker(c.id).cooling_until
            and self.breaker(c.id).state(now) is not BreakerState.OPEN
            for c in found
        )

    def states(self, now: float) -> dict[uuid.UUID, BreakerState]:
        return {channel_id: b.state(now) for channel_id, b in self._breakers.items()}

    def used(self, channel: Channel, wall: float, error: str | None = None) -> None:
        """An attempt on this channel ended at `wall`: well, or with `error`."""
        activity = self._activity.setdefault(channel.id, Activity())
        activity.requests += 1
        activity.last_used_at = wall
        if error is not None:
            activity.errors += 1
            activity.last_error, activity.last_error_at = error, wall

    def report(self, channel: Channel, now: float) -> dict[str, object]:
        """What the admin channel list shows of this channel's health in this process."""
        breaker = self.breaker(channel.id)
        activity = self._activity.get(channel.id) or Activity()
        return {
            "breaker": breaker.state(now).name.lower(),
            "shut_off": channel.id in self._shut_off,
            "cooling": now < breaker.cooling_until,
            "requests": activity.requests,
            "errors": activity.errors,
            "last_used_at": _iso(activity.last_used_at),
            "last_error": activity.last_error,
            "last_error_at": _iso(activity.last_error_at),
        }
