"""A suspended account is refused everywhere: its keys, its sessions, sign-in.

An admin suspends an account with a reason (`PATCH /api/admin/users/{id}`,
`admin_users`); the reason is told to the account's own callers, so they know
why and whom to ask. The refusal is 403 `account_suspended` wherever a
credential is used or handed out: the key verify the gateway asks
(`key_handlers.verify_key`) and every sign-in (`sign_in.finish`). A browser
session is answered 401 by `/internal/sessions/verify` (the gateway renders
any refused session as "sign in again", which then answers 403 with the
reason). Suspension bumps the token generation, so every JWT and session
issued before is void at once; lifting it revives none of them.
"""

from __future__ import annotations

from shared.errors import Forbidden


class AccountSuspended(Forbidden):
    code = "account_suspended"


def message(reason: str | None) -> str:
    return f"this account is suspended: {reason}" if reason else "this account is suspended"


def refuse(suspended: bool, reason: str | None) -> None:
    """403 `account_suspended` naming the reason, when `suspended`."""
    if suspended:
        raise AccountSuspended(message(reason))
