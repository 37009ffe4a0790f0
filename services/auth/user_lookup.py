"""`GET /internal/users/{user_id}`: whether a user exists, for the other services.

Auth owns the users; billing, which knows users only by id, asks here before
it opens an account for one (an admin's credit to a mistyped id must not
create a balance nobody owns); the gateway asks for the user's token
generation, to refuse login tokens issued before a password or email change
(services/gateway/admission/user_generations.py). Internal only (the internal token),
never routed by the gateway. The answer says only what the callers need: the
id, the role and the token generation, or 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from services.auth import key_store, store
from shared.errors import NotFound
from shared.service import DB


async def get_user(request: web.Request) -> web.Response:
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound("no such user") from None
    user = await store.user_by_id(request.app[DB], user_id)
    if user is None:
        raise NotFound("no such user")
    return web.json_response(
        {"id": str(user.id), "role": user.role, "token_generation": user.token_generation}
    )


async def get_contact(request: web.Request) -> web.Response:
    """`GET /internal/users/{user_id}/contact`: where and how to mail a user.

    For a service that mails a user it knows only by id (billing's low-balance
    alert, services/billing/low_balance.py): the address, the language of the
    mail and the name to greet, read when the mail is rendered, so a changed
    address or language is the one used. Internal only, like `get_user`."""
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound("no such user") from None
    db: Any = request.app[DB]
    row = await db.fetchrow(
        "SELECT email, username, display_name, language FROM auth.users WHERE id = $1", user_id
    )
    if row is None:
        raise NotFound("no such user")
    return web.json_response(
        {
            "id": str(user_id),
            "email": row["email"],
            "name": row["display_name"] or row["username"],
            "language": row["language"],
        }
    )


async def get_policy(request: web.Request) -> web.Response:
    """`GET /internal/users/{user_id}/policy`: what admission needs of a user who
    calls with a login (JWT or session) rather than a key: the group, its price
    multiplier, the user's limits (their own, else the group's, per field) and
    whether the account is suspended. The gateway caches it per user and drops
    it on the user's credentials notice or any group change. Internal only."""
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound("no such user") from None
    db: Any = request.app[DB]
    row = await db.fetchrow(
        "SELECT u.group_name, g.price_multiplier, u.suspended_at, u.suspended_reason, "
        f"{key_store.USER_LIMITS_SQL} "
        "FROM auth.users u JOIN auth.groups g ON g.name = u.group_name WHERE u.id = $1",
        user_id,
    )
    if row is None:
        raise NotFound("no such user")
    return web.json_response(
        {
            "group": row["group_name"],
            "price_multiplier": key_store.decimal_text(row["price_multiplier"]),
            "limits": {"user": key_store.user_limits(row)},
            "suspended": row["suspended_at"] is not None,
            "suspended_reason": row["suspended_reason"],
        }
    )


ADMIN_CONTACTS_MAX = 100


async def get_admin_contacts(request: web.Request) -> web.Response:
    """`GET /internal/admins/contacts`: where to mail the operators.

    Tollgate has no separate operator address: its administrators are the
    operators. Billing's spend anomaly mails each of them (services/billing/
    anomaly_alerts.py), in their own language; a suspended administrator is
    left out. Internal only, like `get_user`; at most 100, oldest first."""
    db: Any = request.app[DB]
    rows = await db.fetch(
        "SELECT id, email, username, display_name, language FROM auth.users "
        "WHERE role = 'admin' AND suspended_at IS NULL ORDER BY created_at, id LIMIT $1",
        ADMIN_CONTACTS_MAX,
    )
    return web.json_response(
        {
            "data": [
                {
                    "id": str(row["id"]),
                    "email": row["email"],
                    "name": row["display_name"] or row["username"],
                    "language": row["language"],
                }
                for row in rows
            ]
        }
    )
