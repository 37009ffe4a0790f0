"""An admin account for auth's admin routes, over the public gateway."""

from __future__ import annotations

import uuid
from typing import Any

from tests.accounts import Account, log_in, sign_up
from tests.conftest import Stack


async def make_admin(stack: Stack, db: Any) -> Account:
    """A signed-up user given the admin role, logged in again so the token says so."""
    account = await sign_up(stack.gateway)
    await db.execute("UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(account.id))
    token = await log_in(stack.gateway, account.username)
    return Account(id=account.id, email=account.email, username=account.username, token=token)
