"""`/api/admin/channels`: operators add, change, disable and remove channels.

Admin login (JWT with the admin role) only. The provider key is write-only: it
is accepted on create and update, and never appears in an answer. Every change
is announced so every gateway process reloads its channel table.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from yarl import URL

from services.gateway.api_proxy import authenticate
from services.gateway.channels import normalise_base_url
from services.gateway.keys import CHANNEL_CACHE, CHANNEL_STORE
from services.gateway.wire import Family
from shared import invalidation
from shared.bodies import Fields, read_object
from shared.errors import Forbidden, NotFound, Unauthorized
from shared.service import REDIS

_KINDS = tuple(family.value for family in Family)


async def _require_admin(request: web.Request) -> None:
    principal = await authenticate(request)
    if principal is None:
        raise Unauthorized("authentication required")
    if principal.via != "jwt":
        raise Forbidden("this route needs a login token, not an API key")
    if principal.role != "admin":
        raise Forbidden("admin role required")


def _channel_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["channel_id"])
    except ValueError:
        raise NotFound("channel not found") from None


def _is_upstream_url(url: str) -> bool:
    """A URL the relay can append a path to, with no credential that `public()` would show."""
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        return False
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return bool(parsed.host) and not (
        parsed.user or parsed.password or parsed.query_string or parsed.fragment
    )


def read_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    fields = Fields(body)
    unknown = sorted(
        set(body)
        - {"name", "kind", "base_url", "api_key", "models", "priority", "weight", "enabled"}
    )
    fields.problems.extend(f"{name}: unknown field" for name in unknown)
    values: dict[str, Any] = {
        "name": fields.string("name", required=creating, max_length=100),
        "kind": fields.string("kind", required=creating, max_length=20),
        "base_url": fields.string("base_url", required=creating, max_length=2000),
        "api_key": fields.string("api_key", required=creating, max_length=4000),
        "models": fields.string_list("models"),
        "priority": fields.integer("priority", low=-1000, high=1000),
        "weight": fields.integer("weight", low=1, high=10000),
        "enabled": fields.boolean("enabled"),
    }
    if values["kind"] is not None and values["kind"] not in _KINDS:
        fields.problems.append(f"kind: one of {', '.join(_KINDS)}")
    if values["base_url"] is not None:
        values["base_url"] = normalise_base_url(values["base_url"])
        if not _is_upstream_url(values["base_url"]):
            fields.problems.append(
                "base_url: an http:// or https:// URL with a host, and no user, query or fragment"
            )
    if values["name"] is not None and not values["name"].strip():
        fields.problems.append("name: must not be blank")
    if values["api_key"] is not None and not values["api_key"].strip():
        fields.problems.append("api_key: must not be blank")
    models = values["models"]
    if (creating and models is None) or (
        models is not None and (not models or not all(m.strip() for m in models))
    ):
        fields.problems.append("models: a non-empty list of model names")
    fields.check()
    return {name: value for name, value in values.items() if value is not None}


async def _announce(request: web.Request) -> None:
    await request.app[CHANNEL_CACHE].reload()
    await invalidation.publish(request.app[REDIS], invalidation.CHANNELS_CHANGED, "changed")


async def list_channels(request: web.Request) -> web.Response:
    await _require_admin(request)
    channels = await request.app[CHANNEL_STORE].all()
    return web.json_response({"data": [channel.public() for channel in channels]})


async def get_channel(request: web.Request) -> web.Response:
    await _require_admin(request)
    channel = await request.app[CHANNEL_STORE].get(_channel_id(request))
    if channel is None:
        raise NotFound("channel not found")
    return web.json_response(channel.public())


async def create_channel(request: web.Request) -> web.Response:
    await _require_admin(request)
    values = read_fields(await read_object(request), creating=True)
    channel = await request.app[CHANNEL_STORE].create(values)
    await _announce(request)
    return web.json_response(channel.public(), status=201)


async def update_channel(request: web.Request) -> web.Response:
    await _require_admin(request)
    channel_id = _channel_id(request)
    values = read_fields(await read_object(request), creating=False)
    channel = await request.app[CHANNEL_STORE].update(channel_id, values)
    if channel is None:
        raise NotFound("channel not found")
    await _announce(request)
    return web.json_response(channel.public())


async def delete_channel(request: web.Request) -> web.Response:
    await _require_admin(request)
    if not await request.app[CHANNEL_STORE].delete(_channel_id(request)):
        raise NotFound("channel not found")
    await _announce(request)
    return web.Response(status=204)
