"""The gateway's in-memory table of channels, kept current through Redis.

Every relayed request reads this table; none touches PostgreSQL. The admin API
publishes a notice after each change, and every gateway process reloads the
table from PostgreSQL when it hears one, or when its subscription is (re)made
(it may have missed notices while it was down).
"""

from __future__ import annotations

import logging

import asyncpg

from services.gateway.channel_store import ChannelStore
from services.gateway.channels import Channel
from shared.settings import SettingsError

_log = logging.getLogger(__name__)


class ChannelCache:
    def __init__(self, store: ChannelStore) -> None:
        self._store = store
        self.channels: tuple[Channel, ...] = ()

    async def reload(self) -> None:
        try:
            self.channels = tuple(await self._store.all())
        except (OSError, asyncpg.PostgresError, SettingsError) as exc:
            # Keep serving the last known table (also when a channel's key does
            # not decrypt with this process's key set); the next notice retries.
            _log.warning("channel reload failed", extra={"reason": str(exc)})

    async def on_changed(self, notice: str) -> None:
        await self.reload()

    async def on_live(self, live: bool) -> None:
        if live:
            await self.reload()
