"""The gateway's in-memory routing table (channels and aliases), kept current through Redis.

Every relayed request reads this table; none touches PostgreSQL. The admin API
publishes a notice after each change, and every gateway process reloads the
table from PostgreSQL when it hears one, or when its subscription is (re)made
(it may have missed notices while it was down). Channel health follows the
table: a channel that changed starts with a fresh breaker.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.gateway.channels.alias_store import AliasStore
from services.gateway.channels.choice import RoutingTable
from services.gateway.channels.health import ChannelHealth
from services.gateway.channels.store import ChannelStore
from shared.settings import SettingsError

_log = logging.getLogger(__name__)


class ChannelCache:
    def __init__(self, store: ChannelStore, aliases: AliasStore, health: ChannelHealth) -> None:
        self._store = store
        self._aliases = aliases
        self.health = health
        self.table = RoutingTable()
        # One reload at a time: a slow read that began before a change must not
        # finish after a newer read and put the older table back.
        self._reloading = asyncio.Lock()

    async def reload(self) -> None:
        async with self._reloading:
            try:
                channels = await self._store.all()
                aliases = await self._aliases.all()
            except (OSError, asyncpg.PostgresError, SettingsError) as exc:
                # Keep serving the last known table (also when a channel's key does
                # not decrypt with this process's key set); the next notice retries.
                _log.warning("channel reload failed", extra={"reason": str(exc)})
                return
            self.table = RoutingTable.build(channels, aliases)
            self.health.sync(channels)

    async def on_changed(self, notice: str) -> None:
        await self.reload()

    async def on_live(self, live: bool) -> None:
        if live:
            await self.reload()
