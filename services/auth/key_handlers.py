"""API keys over HTTP: create, list, change, revoke, rotate, and the gateway's verify.

The secret appears once, in the answer to create or rotate. Every id in a
path is checked against the caller's own keys; another user's key is a 404.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.auth import (
    api_keys,
    key_policy,
    key_store,
    notices,
    store,
    suspension,
    verification,
)
from services.auth.keys import KEY_HASHER, SETTINGS
from shared import api_key_format
from shared.bodies import Fields, read_object
from shared.client_input import MODEL_NAME_MAX
from shared.errors import Conflict, NotFound, Unauthorized
from shared.internal import Caller, caller
from shared.service import DB, REDIS


def _key_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["key_id"])
    except ValueError:
        raise NotFound("API key not found") from None


async def _issue(
    request: web.Request,
    who: Caller,
    *,
    name: str,
    models: list[str] | None,
    expires_at: datetime | None,
) -> tuple[key_store.ApiKey, str]:
    """Create a key; the secret is returned to be shown once, never stored."""
    user_id = who.require_user()
    db = request.app[DB]
    await verification.require_verified(request.app, user_id)
    if await key_store.count_active(db, user_id) >= key_store.MAX_KEYS_PER_USER:
        raise Conflict(f"at most {key_store.MAX_KEYS_PER_USER} active keys per account")
    secret, prefix = api_keys.new_key()
    key = await key_store.create(
        db,
        user_id=user_id,
        name=name,
        prefix=prefix,
        key_hash=request.app[KEY_HASHER].digest(secret),
        models=models,
        expires_at=expires_at,
    )
    await store.record_event(
        db,
        "key_created",
        user_id=user_id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"key_id": str(key.id), "prefix": prefix},
    )
    await notices.key_created(request.app, key, who)
    return key, secret


async def create_key(request: web.Request) -> web.Response:
    who = caller(request)
    who.require_user()
    fields = Fields(await read_object(request))
    name = fields.string("name", max_length=100, controls="none")
    models = fields.string_list("models", max_length=MODEL_NAME_MAX)
    expires_at = fields.timestamp("expires_at")
    if name is not None and not name.strip():
        fields.problems.append("name: must not be blank")
    if models is not None and (not models or any(not m.strip() for m in models)):
        fields.problems.append("models: when given, a non-empty list of model names")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        fields.problems.append("expires_at: must be in the future")
    fields.check()
    assert name is not None
    key, secret = await _issue(
        request, who, name=name.strip(), models=models, expires_at=expires_at
    )
    return web.json_response({**key.public(), "key": secret}, status=201)


async def list_keys(request: web.Request) -> web.Response:
    user_id = caller(request).require_user()
    keys = await key_store.list_active(request.app[DB], user_id)
    return web.json_response({"data": [key.public() for key in keys]})


async def update_key(request: web.Request) -> web.Response:
    """`PATCH /api/keys/{id}`: the name, models, expiry and admission policy
    (`key_policy`). Fields left out are unchanged; `null` clears one. One
    statement writes them all, so concurrent changes never mix; then every
    gateway drops the key (the revocation notice) and re-verifies it."""
    who, key_id = caller(request), _key_id(request)
    user_id = who.require_user()
    body = await read_object(request)
    fields = Fields(body)
    fields.refuse_unknown(_PATCHABLE, "cannot be changed here")
    changes: dict[str, Any] = {}
    if fields.has("name"):
        name = fields.string("name", max_length=100, controls="none")
        if name is not None and not name.strip():
            fields.problems.append("name: must not be blank")
        elif name is not None:
            changes["name"] = name.strip()
    if fields.has("models"):
        models = fields.string_list("models", max_length=MODEL_NAME_MAX)
        if models is not None and (not models or any(not m.strip() for m in models)):
            fields.problems.append("models: when given, a non-empty list of model names")
        changes["models"] = models
    if fields.has("expires_at"):
        expires_at = fields.timestamp("expires_at")
        if expires_at is not None and expires_at <= datetime.now(UTC):
            fields.problems.append("expires_at: must be in the future")
        changes["expires_at"] = expires_at
    if fields.has("ip_allowlist"):
        changes["ip_allowlist"] = key_policy.allowlist(fields, body["ip_allowlist"])
    if fields.has("budget"):
        budget = key_policy.budget(fields, body["budget"])
        changes["budget_usd"], changes["budget_period"] = budget or (None, None)
    if fields.has("limits"):
        changes.update(key_policy.limits(fields, body["limits"]))
        if body["limits"] is None or (
            isinstance(body["limits"], dict) and "models" in body["limits"]
        ):
            raw = None if body["limits"] is None else body["limits"]["models"]
            changes["model_limits"] = key_policy.model_limits(fields, raw)
    fields.check()
    key = await key_store.update(request.app[DB], user_id, key_id, changes)
    if key is None:
        raise NotFound("API key not found")
    await api_keys.announce_revoked(request.app[REDIS], key_id)  # gateways re-verify it
    await store.record_event(
        request.app[DB],
        "key_updated",
        user_id=user_id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"key_id": str(key_id), "fields": sorted(name for name in body)},
    )
    return web.json_response(key.public())


_PATCHABLE = frozenset({"name", "models", "expires_at", "ip_allowlist", "budget", "limits"})


async def revoke_key(request: web.Request) -> web.Response:
    who, key_id = caller(request), _key_id(request)
    if not await key_store.revoke(request.app[DB], who.require_user(), key_id):
        raise NotFound("API key not found")
    await api_keys.announce_revoked(request.app[REDIS], key_id)
    await store.record_event(
        request.app[DB],
        "key_revoked",
        user_id=who.user_id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"key_id": str(key_id)},
    )
    return web.Response(status=204)


async def rotate_key(request: web.Request) -> web.Response:
    """A new secret with the same name, models and expiry; the old one stops at once."""
    who, key_id = caller(request), _key_id(request)
    db = request.app[DB]
    secret, prefix = api_keys.new_key()
    new = await key_store.rotate(
        db,
        who.require_user(),
        key_id,
        prefix=prefix,
        key_hash=request.app[KEY_HASHER].digest(secret),
    )
    if new is None:
        raise NotFound("API key not found")
    await api_keys.announce_revoked(request.app[REDIS], key_id)
    await store.record_event(
        db,
        "key_rotated",
        user_id=who.user_id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"key_id": str(key_id), "new_key_id": str(new.id)},
    )
    return web.json_response({**new.public(), "key": secret}, status=201)


async def verify_key(request: web.Request) -> web.Response:
    """Internal: the gateway asks who a key belongs to and what it may do: its
    models and expiry, and for admission the owner's group, price multiplier and
    limits, the key's own limits, IP allowlist and budget (docs/admission.md).
    A suspended owner's key is 403 `account_suspended`."""
    fields = Fields(await read_object(request))
    key = fields.string("key", max_length=200, controls="none")
    fields.check()
    assert key is not None
    if not api_key_format.is_well_formed(key):
        raise Unauthorized("invalid API key")
    verified = await key_store.verify(request.app[DB], request.app[KEY_HASHER].digest(key))
    if verified is None:
        raise Unauthorized("invalid API key")
    suspension.refuse(verified.suspended, verified.suspended_reason)
    if request.app[SETTINGS].require_verified_email and not verified.email_verified:
        raise verification.EmailNotVerified(verification.NOT_VERIFIED)
    found = verified.key
    return web.json_response(
        {
            "key_id": str(found.id),
            "user_id": str(found.user_id),
            "role": verified.role,
            "models": found.models,
            "expires_at": None if found.expires_at is None else found.expires_at.isoformat(),
            "group": verified.group,
            "price_multiplier": key_store.decimal_text(verified.price_multiplier),
            "limits": {
                "user": verified.user_limits,
                "key": found.limits(),
                "models": found.model_limits,
            },
            "ip_allowlist": found.allowlist(),
            "budget": found.budget(),
        }
    )
