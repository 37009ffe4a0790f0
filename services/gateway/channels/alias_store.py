"""The gateway schema's SQL for model aliases: a client's name for a model.

An alias resolves once, to a model name the channels serve (never to another
alias); the relay prices, routes and bills the model it resolves to.
"""

from __future__ import annotations

from typing import Any


class AliasStore:
    def __init__(self, db: Any) -> None:
        self._db = db

    async def all(self) -> dict[str, str]:
        rows = await self._db.fetch("SELECT alias, model FROM gateway.model_aliases ORDER BY alias")
        return {row["alias"]: row["model"] for row in rows}

    async def put(self, alias: str, model: str) -> bool:
        """Set an alias; True when it is new."""
        inserted: bool = await self._db.fetchval(
            "INSERT INTO gateway.model_aliases (alias, model) VALUES ($1, $2) "
            "ON CONFLICT (alias) DO UPDATE SET model = EXCLUDED.model, updated_at = now() "
            "RETURNING xmax = 0",
            alias,
            model,
        )
        return inserted

    async def delete(self, alias: str) -> bool:
        status: str = await self._db.execute(
            "DELETE FROM gateway.model_aliases WHERE alias = $1", alias
        )
        return status.endswith(" 1")
