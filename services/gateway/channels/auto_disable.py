"""Switching channels off when their upstream refuses the key, and back on.

A 401 or 403 from an upstream means the channel's key is wrong, revoked or
out of credit: every request sent there would fail. The relay shuts the
channel off in its own process at once and calls `disable_soon`, which
disables it in PostgreSQL (`disabled_reason = upstream_auth_failed`) and
announces the change, so every gateway process stops using it within a
second. Such a channel comes back when an operator re-enables it, or when a
probe succeeds: every `probe_seconds`, one gateway process (a Redis lock per
channel decides which) probes each channel disabled this way, and the admin
test endpoint re-enables one the same way. A channel an operator disabled is
never switched on by a probe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.gateway.channels.cache import ChannelCache
from services.gateway.channels.choice import DISABLED_BY_UPSTREAM_AUTH, Channel
from services.gateway.channels.probe import ProbeResult
from services.gateway.channels.store import ChannelStore
from shared import invalidation, tasks

_log = logging.getLogger(__name__)

Prober = Callable[[Channel, str], Awaitable[ProbeResult]]


class ChannelSwitch:
    def __init__(
        self,
        store: ChannelStore,
        cache: ChannelCache,
        redis: Redis,
        prober: Prober,
        *,
        probe_seconds: float,
    ) -> None:
        self._store = store
        self._cache = cache
        self._redis = redis
        self._prober = prober
        self._probe_seconds = probe_seconds

    async def announce(self) -> None:
        """Reload this process's table now and tell every other process to."""
        await self._cache.reload()
        await invalidation.publish(self._redis, invalidation.CHANNELS_CHANGED, "changed")

    def disable_soon(self, channel: Channel) -> None:
        tasks.spawn(self._disable(channel), name=f"disable-channel-{channel.id}")

    async def _disable(self, channel: Channel) -> None:
        try:
            if await self._store.disable_for_upstream_auth(channel.id):
                _log.warning(
                    "channel disabled: its upstream refused the key",
                    extra={"channel_id": str(channel.id), "channel": channel.name},
                )
                await self.announce()
        except (OSError, asyncpg.PostgresError, RedisError) as exc:
            # This process has shut the channel off already; others find out
            # from their own first refusal.
            _log.warning(
                "could not disable channel",
                extra={"channel_id": str(channel.id), "reason": str(exc)},
            )

    async def test(self, channel: Channel, model: str) -> tuple[ProbeResult, bool]:
        """Probe the channel; re-enable it if its upstream's refusal had switched it off."""
        result = await self._prober(channel, model)
        reenabled = False
        if result.ok and channel.disabled_reason == DISABLED_BY_UPSTREAM_AUTH:
            reenabled = await self._store.reenable_after_probe(channel.id)
            if reenabled:
                _log.info(
                    "channel re-enabled: a probe succeeded",
                    extra={"channel_id": str(channel.id), "channel": channel.name},
                )
                await self.announce()
        return result, reenabled

    async def run(self, stop: asyncio.Event) -> None:
        """Probe the channels the upstream switched off, until `stop` is set."""
        while not stop.is_set():
            await tasks.sleep_unless(stop, self._probe_seconds)
            if stop.is_set():
                return
            for channel in self._cache.table.channels:
                if channel.enabled or channel.disabled_reason != DISABLED_BY_UPSTREAM_AUTH:
                    continue
                try:
                    if await self._claim(channel):
                        await self.test(channel, channel.models[0])
                except (OSError, asyncpg.PostgresError, RedisError) as exc:
                    _log.warning(
                        "channel probe skipped",
                        extra={"channel_id": str(channel.id), "reason": str(exc)},
                    )

    async def _claim(self, channel: Channel) -> bool:
        """One gateway process probes a channel per period."""
        key = f"tg:probe:{channel.id}"
        return bool(await self._redis.set(key, "1", nx=True, px=int(self._probe_seconds * 1000)))
