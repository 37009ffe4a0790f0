"""`/api/admin/channels`: operators add, change, disable, test and remove channels.

Admin login (a JWT, or a browser session past its CSRF checks, with the admin
role) only. The provider key is write-only: it is accepted on create and
update, and never appears in an answer. A base URL
is accepted only where the URL guard lets it lead (`base_url_check`). Every
change is announced so every gateway process reloads its routing table.
`POST /api/admin/channels/{id}/test` sends the channel one tiny request and
reports status and latency; it re-enables a channel its upstream's refusal
had switched off when the upstream accepts the key again. The list and a
single channel carry `health`: the breaker's state, whether this process shut
it off, its attempts and failures, when it was last used and its last error,
as this gateway process has seen them (`channel_health`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from services.gateway.app_keys import CHANNEL_CACHE, CHANNEL_STORE, CHANNEL_SWITCH, UPSTREAMS
from services.gateway.channels.base_url_check import base_url_problems
from services.gateway.channels.choice import Channel
from services.gateway.channels.fields import channel_problems, read_fields
from services.gateway.edge.api_proxy import authenticate
from services.gateway.relay.apis import Family
from shared.bodies import Fields, read_object
from shared.client_input import cap
from shared.errors import Forbidden, NotFound, Unauthorized, Unprocessable


async def require_admin(request: web.Request) -> None:
    principal = await authenticate(request)
    if principal is None:
        raise Unauthorized("authentication required")
    if principal.via == "api_key":
        raise Forbidden("this route needs a login token, not an API key")
    if principal.role != "admin":
        raise Forbidden("admin role required")


def _channel_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["channel_id"])
    except ValueError:
        raise NotFound("channel not found") from None


async def _stored(request: web.Request) -> Channel:
    channel = await request.app[CHANNEL_STORE].get(_channel_id(request))
    if channel is None:
        raise NotFound("channel not found")
    return channel


async def _check(request: web.Request, channel: dict[str, Any], *, url_changed: bool) -> None:
    """Refuse, with every reason, a channel that cannot be saved as it would be."""
    problems = channel_problems(channel)
    if url_changed:
        problems += await base_url_problems(
            request.app[UPSTREAMS].open,
            channel["base_url"],
            Family(channel["kind"]),
            allow_private_network=bool(channel.get("allow_private_network")),
        )
    if problems:
        raise Unprocessable("request body is invalid", details=problems)


def _with_health(request: web.Request, channel: Channel) -> dict[str, object]:
    health = request.app[CHANNEL_CACHE].health
    return {**channel.public(), "health": health.report(channel, time.monotonic())}


async def list_channels(request: web.Request) -> web.Response:
    await require_admin(request)
    channels = await request.app[CHANNEL_STORE].all()
    return web.json_response({"data": [_with_health(request, channel) for channel in channels]})


async def get_channel(request: web.Request) -> web.Response:
    await require_admin(request)
    return web.json_response(_with_health(request, await _stored(request)))


async def create_channel(request: web.Request) -> web.Response:
    await require_admin(request)
    values = read_fields(await read_object(request), creating=True)
    await _check(request, values, url_changed=True)
    channel = await request.app[CHANNEL_STORE].create(values)
    await request.app[CHANNEL_SWITCH].announce()
    return web.json_response(channel.public(), status=201)


async def update_channel(request: web.Request) -> web.Response:
    await require_admin(request)
    current = await _stored(request)
    changes = read_fields(await read_object(request), creating=False)
    merged = {**current.public(), **changes}
    url_changed = any(
        name in changes and changes[name] != before
        for name, before in (
            ("base_url", current.base_url),
            ("kind", current.kind.value),
            ("allow_private_network", current.allow_private_network),
        )
    )
    await _check(request, merged, url_changed=url_changed)
    channel = await request.app[CHANNEL_STORE].update(current.id, changes)
    if channel is None:
        raise NotFound("channel not found")
    await request.app[CHANNEL_SWITCH].announce()
    return web.json_response(channel.public())


async def delete_channel(request: web.Request) -> web.Response:
    await require_admin(request)
    if not await request.app[CHANNEL_STORE].delete(_channel_id(request)):
        raise NotFound("channel not found")
    await request.app[CHANNEL_SWITCH].announce()
    return web.Response(status=204)


async def test_channel(request: web.Request) -> web.Response:
    await require_admin(request)
    channel = await _stored(request)
    body = await read_object(request) if request.body_exists else {}
    fields = Fields(body)
    model = fields.string("model", required=False, max_length=200, controls="none")
    model = model or channel.models[0]
    if model not in channel.models:
        fields.problems.append(f"model: {cap(model)} is not one of the channel's models")
    fields.check()
    result, reenabled = await request.app[CHANNEL_SWITCH].test(channel, model)
    return web.json_response(
        {**result.public(), "channel_id": str(channel.id), "reenabled": reenabled}
    )
