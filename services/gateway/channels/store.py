"""The gateway schema's SQL for channels, with provider keys sealed at rest.

Provider keys are encrypted with the service's Fernet key set before they are
written and decrypted only into the gateway's in-memory channel table. No
function here returns a key to a caller that renders HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from cryptography.fernet import InvalidToken, MultiFernet

from services.gateway.channels.choice import DISABLED_BY_UPSTREAM_AUTH, Channel
from services.gateway.relay.apis import Family
from shared.errors import Conflict
from shared.settings import SettingsError

_COLUMNS = (
    "id, name, kind, base_url, api_key_encrypted, models, priority, weight, enabled, "
    "model_map, allow_private_network, connect_timeout_ms, first_byte_timeout_ms, "
    "idle_timeout_ms, disabled_reason, updated_at"
)
# Columns a create may set besides the key; `update` takes any of them too.
SETTABLE = (
    "name",
    "kind",
    "base_url",
    "models",
    "priority",
    "weight",
    "enabled",
    "model_map",
    "allow_private_network",
    "connect_timeout_ms",
    "first_byte_timeout_ms",
    "idle_timeout_ms",
    "disabled_reason",
)
_DEFAULTS: dict[str, Any] = {
    "priority": 0,
    "weight": 1,
    "enabled": True,
    "model_map": {},
    "allow_private_network": False,
}


class ChannelStore:
    def __init__(self, db: Any, fernet: MultiFernet) -> None:
        self._db = db
        self._fernet = fernet

    def _channel(self, row: Any) -> Channel:
        try:
            api_key = self._fernet.decrypt(bytes(row["api_key_encrypted"])).decode()
        except InvalidToken:
            raise SettingsError(
                f"channel {row['id']}: key cannot be decrypted with TOLLGATE_SECRET_KEYS"
            ) from None
        return Channel(
            id=row["id"],
            name=row["name"],
            kind=Family(row["kind"]),
            base_url=row["base_url"],
            api_key=api_key,
            models=tuple(row["models"]),
            priority=row["priority"],
            weight=row["weight"],
            enabled=row["enabled"],
            model_map=dict(row["model_map"]),
            allow_private_network=row["allow_private_network"],
            connect_timeout_ms=row["connect_timeout_ms"],
            first_byte_timeout_ms=row["first_byte_timeout_ms"],
            idle_timeout_ms=row["idle_timeout_ms"],
            disabled_reason=row["disabled_reason"],
            updated_at=row["updated_at"],
        )

    async def all(self) -> list[Channel]:
        rows = await self._db.fetch(f"SELECT {_COLUMNS} FROM gateway.channels ORDER BY created_at")
        return [self._channel(row) for row in rows]

    async def get(self, channel_id: uuid.UUID) -> Channel | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway.channels WHERE id = $1", channel_id
        )
        return None if row is None else self._channel(row)

    async def create(self, fields: dict[str, Any]) -> Channel:
        columns = {name: fields.get(name, _DEFAULTS.get(name)) for name in SETTABLE}
        columns["api_key_encrypted"] = self._fernet.encrypt(fields["api_key"].encode())
        names = sorted(columns)  # from SETTABLE, never from the client
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        try:
            row = await self._db.fetchrow(
                f"INSERT INTO gateway.channels ({', '.join(names)}) "
                f"VALUES ({placeholders}) RETURNING {_COLUMNS}",
                *(columns[name] for name in names),
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("a channel with this name already exists") from None
        return self._channel(row)

    async def update(self, channel_id: uuid.UUID, changes: dict[str, Any]) -> Channel | None:
        columns: dict[str, Any] = {k: v for k, v in changes.items() if k in SETTABLE}
        if "api_key" in changes:
            columns["api_key_encrypted"] = self._fernet.encrypt(changes["api_key"].encode())
        if not columns:
            return await self.get(channel_id)
        names = sorted(columns)  # from SETTABLE, never from the client
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
        try:
            row = await self._db.fetchrow(
                f"UPDATE gateway.channels SET {assignments}, updated_at = now() "
                f"WHERE id = $1 RETURNING {_COLUMNS}",
                channel_id,
                *(columns[name] for name in names),
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("a channel with this name already exists") from None
        return None if row is None else self._channel(row)

    async def delete(self, channel_id: uuid.UUID) -> bool:
        status: str = await self._db.execute(
            "DELETE FROM gateway.channels WHERE id = $1", channel_id
        )
        return status.endswith(" 1")

    async def disable_for_upstream_auth(self, channel_id: uuid.UUID) -> bool:
        """Switch off a channel whose key its upstream refused; False if it already was."""
        status: str = await self._db.execute(
            "UPDATE gateway.channels SET enabled = false, disabled_reason = $2, "
            "updated_at = now() WHERE id = $1 AND enabled",
            channel_id,
            DISABLED_BY_UPSTREAM_AUTH,
        )
        return status.endswith(" 1")

    async def reenable_after_probe(self, channel_id: uuid.UUID) -> bool:
        """Switch back on a channel the upstream's refusal switched off (never an operator's)."""
        status: str = await self._db.execute(
            "UPDATE gateway.channels SET enabled = true, disabled_reason = NULL, "
            "updated_at = now() WHERE id = $1 AND NOT enabled AND disabled_reason = $2",
            channel_id,
            DISABLED_BY_UPSTREAM_AUTH,
        )
        return status.endswith(" 1")
