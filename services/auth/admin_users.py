"""Accounts for admins: `GET /api/admin/users`, `GET|PATCH /api/admin/users/{id}`.

Admin role (the gateway checks it, auth again).

- `GET /api/admin/users?q=&limit=&cursor=`: search by email, username (any
  part, in any spelling) or exact id; newest first, `limit` 1..200 (50), and
  `next_cursor` for the next page (`user_admin_store`).
- `PATCH /api/admin/users/{id}` `{group, role, suspended, rpm, tpm,
  concurrency}`, each optional: the account's group, its role, a suspension
  (`{"reason": "..."}`; `null` lifts it) and its own limits (`null`: the
  group's default). One transaction with the account locked, so concurrent
  changes apply one after the other.

Suspending bumps the token generation (every JWT and browser session of the
account dies, as at a password change) and refuses its keys, sessions and
sign-ins (`suspension`); it revokes nothing else, so lifting it gives the
keys back (the logins must sign in again). A role change ends the sessions
(`store.set_role`). After any change every gateway is told (the credentials
notice): they drop the account's cached keys, sessions and policy, so the
change applies within a second. An admin cannot suspend or demote
themself. Each change is a security event in the account's log, naming
the admin.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from services.auth import credentials, groups, key_policy, store, user_admin_store
from shared.bodies import Fields, read_object
from shared.client_input import text_problem
from shared.errors import NotFound, Unprocessable
from shared.internal import Caller, caller
from shared.service import DB, REDIS

DEFAULT_PAGE = 50
MAX_PAGE = 200
REASON_MAX = 500
ROLES = ("user", "admin")
_PATCHABLE = frozenset({"group", "role", "suspended", *key_policy.LIMIT_NAMES})


def _user_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound("no such user") from None


async def list_users(request: web.Request) -> web.Response:
    caller(request).require_admin()
    query = request.query
    problems: list[str] = []
    for name in ("q", "limit", "cursor"):
        if len(query.getall(name, [])) > 1:
            problems.append(f"{name}: given more than once")
    q = query.get("q", "").strip() or None
    if q is not None and (problem := text_problem(q, max_length=254, controls="none")):
        problems.append(f"q: {problem}")
    limit = DEFAULT_PAGE
    raw_limit = query.get("limit")
    if raw_limit is not None:
        digits = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 6
        if digits and 1 <= int(raw_limit) <= MAX_PAGE:
            limit = int(raw_limit)
        else:
            problems.append(f"limit: an integer from 1 to {MAX_PAGE}")
    after: uuid.UUID | None = None
    if query.get("cursor"):
        try:
            after = uuid.UUID(query["cursor"][:64])
        except ValueError:
            problems.append("cursor: not a cursor this API issued; use next_cursor as given")
    if problems:
        raise Unprocessable("query is invalid", details=problems)
    found, following = await user_admin_store.search(request.app[DB], q, limit=limit, after=after)
    return web.json_response(
        {
            "data": [user.public() for user in found],
            "next_cursor": None if following is None else str(following),
        }
    )


async def get_user(request: web.Request) -> web.Response:
    caller(request).require_admin()
    user = await user_admin_store.get(request.app[DB], _user_id(request))
    if user is None:
        raise NotFound("no such user")
    return web.json_response(user.public())


def _changes(body: dict[str, Any], who: Caller, user_id: uuid.UUID) -> dict[str, Any]:
    """The body's changes, checked; 422 listing every problem."""
    fields = Fields(body)
    fields.refuse_unknown(_PATCHABLE, "cannot be changed here")
    changes: dict[str, Any] = {}
    if fields.has("group"):
        group = fields.string("group", max_length=40, controls="none")
        if group is not None and not groups.NAME.fullmatch(group):
            fields.problems.append("group: no such group")
        elif group is not None:
            changes["group"] = group
    if fields.has("role"):
        role = body["role"]
        if role not in ROLES:
            fields.problems.append(f"role: one of {', '.join(ROLES)}")
        elif role != "admin" and user_id == who.user_id:
            fields.problems.append("role: an admin cannot demote themself")
        else:
            changes["role"] = role
    if fields.has("suspended"):
        suspended = body["suspended"]
        if suspended is None:
            changes["suspended"] = None
        elif not isinstance(suspended, dict) or set(suspended) != {"reason"}:
            fields.problems.append('suspended: {"reason": "..."} to suspend, or null to lift')
        elif user_id == who.user_id:
            fields.problems.append("suspended: an admin cannot suspend themself")
        else:
            reason = suspended["reason"]
            problem = (
                "must be a string"
                if not isinstance(reason, str)
                else "must not be blank"
                if not reason.strip()
                else text_problem(reason, max_length=REASON_MAX, controls="none")
            )
            if problem is not None:
                fields.problems.append(f"suspended.reason: {problem}")
            else:
                changes["suspended"] = reason.strip()
    for name in key_policy.LIMIT_NAMES:
        if fields.has(name):
            changes[name] = key_policy.limit(fields, name, body[name])
    fields.check()
    return changes


async def update_user(request: web.Request) -> web.Response:
    who = caller(request)
    who.require_admin()
    user_id = _user_id(request)
    changes = _changes(await read_object(request), who, user_id)
    pool: Any = request.app[DB]
    async with pool.acquire() as connection, connection.transaction():
        user = await user_admin_store.get(connection, user_id, lock=True)
        if user is None:
            raise NotFound("no such user")
        events = await _apply(connection, user, changes)
        for kind, detail in events:
            await store.record_event(
                connection,
                kind,
                user_id=user_id,
                ip=who.client_ip,
                user_agent=who.user_agent,
                detail={"admin_id": str(who.user_id), **detail},
            )
        changed = await user_admin_store.get(connection, user_id)
    assert changed is not None
    if events:  # every gateway drops what it cached of the account
        await credentials.announce(request.app[REDIS], user_id)
    return web.json_response(changed.public())


async def _apply(
    connection: Any, user: user_admin_store.AdminView, changes: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """Write the changes that change something; the security events they make."""
    events: list[tuple[str, dict[str, Any]]] = []
    group = changes.get("group")
    if group is not None and group != user.group_name:
        try:
            await connection.execute(
                "UPDATE auth.users SET group_name = $2, updated_at = now() WHERE id = $1",
                user.id,
                group,
            )
        except asyncpg.ForeignKeyViolationError:
            raise Unprocessable(
                "request body is invalid", details=["group: no such group"]
            ) from None
        events.append(("group_assigned", {"from": user.group_name, "to": group}))
    limits = {n: changes[n] for n in key_policy.LIMIT_NAMES if n in changes}
    if any(getattr(user, n) != value for n, value in limits.items()):
        columns = sorted(limits)
        await connection.execute(
            "UPDATE auth.users SET updated_at = now()"
            + "".join(f", {n} = ${i}" for i, n in enumerate(columns, start=2))
            + " WHERE id = $1",
            user.id,
            *(limits[n] for n in columns),
        )
        events.append(("limits_changed", {"limits": limits}))
    role = changes.get("role")
    if role is not None and role != user.role:
        await store.set_role(connection, user.id, role)  # bumps the generation, ends sessions
        events.append(("role_changed", {"from": user.role, "to": role}))
    if "suspended" in changes:
        events.extend(await _suspension(connection, user, changes["suspended"]))
    return events


async def _suspension(
    connection: Any, user: user_admin_store.AdminView, reason: str | None
) -> list[tuple[str, dict[str, Any]]]:
    if reason is None:
        if user.suspended_at is None:
            return []
        await connection.execute(
            "UPDATE auth.users SET suspended_at = NULL, suspended_reason = NULL, "
            "updated_at = now() WHERE id = $1",
            user.id,
        )
        return [("account_unsuspended", {})]
    if user.suspended_at is not None and user.suspended_reason == reason:
        return []
    await connection.execute(
        "UPDATE auth.users SET suspended_at = coalesce(suspended_at, now()), "
        "suspended_reason = $2, updated_at = now() WHERE id = $1",
        user.id,
        reason,
    )
    if user.suspended_at is None:  # every login credential issued before dies
        await credentials.bump(connection, user.id)
    return [("account_suspended", {"reason": reason})]
