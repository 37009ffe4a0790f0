"""Test helpers for limits (DESIGN 13): a funded key with limits set, and where
they stand in Redis (real gateway processes: `gateway_processes`).

A key's limits are set as its owner sets them (`PATCH /api/keys/{id}`); the
account's own, in auth's table by the contract's column names (auth.users
rpm, tpm, concurrency: what an admin's PATCH writes), before the key is first
used, so no gateway has the key's principal cached with older ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.limits import Kind, key_for
from tests.accounts import Account, create_key, sign_up
from tests.conftest import Stack
from tests.relay import add_mock_channels, add_prices, credit

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 50,
}


@dataclass(frozen=True, kw_only=True)
class LimitedKey:
    account: Account
    key: str
    key_id: uuid.UUID

    @property
    def user_id(self) -> uuid.UUID:
        return uuid.UUID(self.account.id)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def redis_key(self, kind: Kind, *, of_key: bool = True) -> str:
        return key_for(self.user_id, self.key_id if of_key else None, kind)


async def limited_key(
    stack: Stack,
    db: Any,
    *,
    funds: Decimal = Decimal(10),
    key_limits: dict[str, int] | None = None,
    user_limits: dict[str, int] | None = None,
) -> LimitedKey:
    """Mock channels with prices; a funded account and a key, with limits set."""
    await add_mock_channels(stack)
    await add_prices(stack)
    account = await sign_up(stack.gateway)
    if funds:
        await credit(stack, account.id, funds)
    created = await create_key(stack.gateway, account)
    key_id = uuid.UUID(created["id"])
    if key_limits:
        await set_key_limits(stack, account, key_id, key_limits)
    for column, value in (user_limits or {}).items():
        assert column in ("rpm", "tpm", "concurrency")
        await db.execute(
            f"UPDATE auth.users SET {column} = $1 WHERE id = $2", value, uuid.UUID(account.id)
        )
    return LimitedKey(account=account, key=created["key"], key_id=key_id)


async def set_key_limits(
    stack: Stack, account: Account, key_id: uuid.UUID, limits: Mapping[str, int | None]
) -> None:
    """`PATCH /api/keys/{id}` with `limits`, as the key's owner."""
    response = await stack.gateway.patch(
        f"/api/keys/{key_id}", json={"limits": limits}, headers=account.headers
    )
    assert response.status == 200, await response.text()
