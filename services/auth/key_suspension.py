"""A key suspended on its own: billing's spend anomaly stops the key that spent it.

When the operator turns `ANOMALY_SUSPEND_KEY` on, billing's anomaly worker
(services/billing/anomaly_alerts.py) asks here to suspend the key whose hour
of spend was far above the account's usual. Rules:

- `POST /internal/keys/{id}/suspend` `{user_id, reason}` (internal token;
  never routed by the gateway): the owner's live key gets `suspended_at` and
  the reason, and every gateway drops it within a second (the revocation
  notice, `shared.invalidation.KEY_REVOKED`); the next call re-verifies and
  `key_store.verify` refuses it with 403 `key_suspended`, the reason in the
  message, in the client's own error format. Suspending a suspended key
  changes nothing (the first reason and time stay), so billing can retry.
  A key that is not the user's, or is revoked, is 404.
- `GET /internal/keys/{id}`: the key's name, prefix and state, revoked keys
  too, so billing's mail can name the keys it lists.
- `POST /api/keys/{id}/resume` (the owner, signed in; the gateway already
  refuses API keys on `/api/keys`, and it is refused here again): the key
  works again at once (a refused key was never cached). Resuming a key that
  is not suspended is answered the same (200), so a retried click is harmless.
  The account and its other keys are never touched; suspending a whole
  account is an administrator's (`suspension`).
Both changes are written to the owner's security log.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from services.auth import api_keys, store
from shared.bodies import Fields, read_object
from shared.errors import Forbidden, NotFound
from shared.internal import caller
from shared.service import DB, REDIS

_FIELDS = frozenset({"user_id", "reason"})
_FACTS = "id, user_id, name, prefix, suspended_at, suspended_reason, revoked_at"
_LIVE_KEY = (
    f"SELECT {_FACTS} FROM auth.api_keys WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"
)


class KeySuspended(Forbidden):
    code = "key_suspended"


def refuse(suspended_at: datetime | None, reason: str | None) -> None:
    """403 `key_suspended` naming the reason, when the key is suspended."""
    if suspended_at is not None:
        told = f": {reason}" if reason else ""
        raise KeySuspended(f"this API key is suspended{told}")


def _key_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["key_id"])
    except ValueError:
        raise NotFound("API key not found") from None


def _facts(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "key_id": str(row["id"]),
        "user_id": str(row["user_id"]),
        "name": row["name"],
        "prefix": row["prefix"],
        "suspended_at": iso(row["suspended_at"]),
        "suspended_reason": row["suspended_reason"],
        "revoked": row["revoked_at"] is not None,
    }


async def suspend(request: web.Request) -> web.Response:
    """Internal: suspend the user's live key with a reason; see the module docstring."""
    key_id = _key_id(request)
    fields = Fields(await read_object(request))
    fields.refuse_unknown(_FIELDS)
    raw_user = fields.string("user_id", max_length=36, controls="none")
    reason = fields.string("reason", max_length=1000, controls="none")
    user_id = None
    if raw_user is not None:
        try:
            user_id = uuid.UUID(raw_user)
        except ValueError:
            fields.problems.append("user_id: not a UUID")
    if reason is not None and not reason.strip():
        fields.problems.append("reason: must not be blank")
    fields.check()
    assert user_id is not None and reason is not None
    db: Any = request.app[DB]
    row = await db.fetchrow(
        "UPDATE auth.api_keys SET suspended_at = now(), suspended_reason = $3 "
        "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND suspended_at IS NULL "
        f"RETURNING {_FACTS}",
        key_id,
        user_id,
        reason.strip(),
    )
    if row is not None:
        await api_keys.announce_revoked(request.app[REDIS], key_id)
        await store.record_event(
            db,
            "key_suspended",
            user_id=user_id,
            ip=None,
            user_agent=None,
            detail={"key_id": str(key_id), "reason": row["suspended_reason"]},
        )
        return web.json_response(_facts(row))
    row = await db.fetchrow(
        _LIVE_KEY,
        key_id,
        user_id,
    )
    if row is None:
        raise NotFound("API key not found")
    return web.json_response(_facts(row))  # suspended already: nothing changes


async def get_key(request: web.Request) -> web.Response:
    """Internal: a key's name, prefix and state (revoked keys too)."""
    db: Any = request.app[DB]
    row = await db.fetchrow(f"SELECT {_FACTS} FROM auth.api_keys WHERE id = $1", _key_id(request))
    if row is None:
        raise NotFound("API key not found")
    return web.json_response(_facts(row))


async def resume(request: web.Request) -> web.Response:
    """`POST /api/keys/{id}/resume`: the owner lifts a suspension."""
    who, key_id = caller(request), _key_id(request)
    user_id = who.require_user()
    if who.credential == "api_key":  # the gateway already refuses it; said again here
        raise Forbidden("a key is resumed when signed in, not with an API key")
    db: Any = request.app[DB]
    resumed = await db.fetchrow(
        "UPDATE auth.api_keys SET suspended_at = NULL, suspended_reason = NULL "
        "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND suspended_at IS NOT NULL "
        f"RETURNING {_FACTS}",
        key_id,
        user_id,
    )
    row = resumed or await db.fetchrow(
        _LIVE_KEY,
        key_id,
        user_id,
    )
    if row is None:
        raise NotFound("API key not found")
    if resumed is not None:
        await store.record_event(
            db,
            "key_resumed",
            user_id=user_id,
            ip=who.client_ip,
            user_agent=who.user_agent,
            detail={"key_id": str(key_id)},
        )
    facts = _facts(row)
    return web.json_response(
        {
            "id": facts["key_id"],
            "name": facts["name"],
            "prefix": facts["prefix"],
            "suspended_at": None,
            "suspended_reason": None,
        }
    )
