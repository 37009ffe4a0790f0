"""Groups for admins: `GET /api/admin/groups`, `GET|PUT|DELETE /api/admin/groups/{name}`.

Admin role (the gateway checks it, auth again). `PUT` creates the group or
replaces all its settings: `price_multiplier` (a decimal string above 0 and
at most 100, four decimal places; "1" when left out), `rpm`, `tpm`,
`concurrency` (the members' default limits; null or left out: none) and
`note`. `DELETE` refuses `default` and a group with members (409). After each
change every gateway is told (`GROUPS_CHANGED`, the group's name): they drop
the key principals and user policies they cached, whose multiplier or limits
may have changed. Each change is a security event in the admin's own log.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from services.auth import groups, key_policy, store
from shared import invalidation
from shared.bodies import Fields, read_object
from shared.errors import NotFound
from shared.internal import Caller, caller
from shared.service import DB, REDIS

MULTIPLIER_MAX = Decimal(100)
MULTIPLIER_PLACES = 4
NOTE_MAX = 1000


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not groups.NAME.fullmatch(name):
        raise NotFound("no such group")
    return name


async def list_groups(request: web.Request) -> web.Response:
    caller(request).require_admin()
    found = await groups.list_all(request.app[DB])
    return web.json_response({"data": [group.public() for group in found]})


async def get_group(request: web.Request) -> web.Response:
    caller(request).require_admin()
    group = await groups.get(request.app[DB], _name(request))
    if group is None:
        raise NotFound("no such group")
    return web.json_response(group.public())


def multiplier(fields: Fields, value: Any) -> Decimal:
    """The price multiplier of a body (1 when absent), its problems in `fields`."""
    if value is None:
        return Decimal(1)
    problem = 'price_multiplier: a decimal string above 0 and at most 100, such as "1.5"'
    if not isinstance(value, str) or len(value) > 40:
        fields.problems.append(problem)
        return Decimal(1)
    try:
        parsed = Decimal(value.strip())
    except InvalidOperation:
        fields.problems.append(problem)
        return Decimal(1)
    if not parsed.is_finite() or not 0 < parsed <= MULTIPLIER_MAX:
        fields.problems.append(problem)
        return Decimal(1)
    exponent = parsed.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MULTIPLIER_PLACES:
        fields.problems.append(f"price_multiplier: at most {MULTIPLIER_PLACES} decimal places")
        return Decimal(1)
    return parsed


async def put_group(request: web.Request) -> web.Response:
    who = caller(request)
    who.require_admin()
    name = request.match_info["name"]
    body = await read_object(request)
    fields = Fields(body)
    if not groups.NAME.fullmatch(name):
        fields.problems.append(
            "name: 1 to 40 of a-z, 0-9, '_' and '-', starting with a letter or digit"
        )
    fields.refuse_unknown({"price_multiplier", "rpm", "tpm", "concurrency", "note"})
    price = multiplier(fields, body.get("price_multiplier"))
    limits = {n: key_policy.limit(fields, n, body.get(n)) for n in key_policy.LIMIT_NAMES}
    note = fields.string("note", required=False, max_length=NOTE_MAX)
    fields.check()
    group, created = await groups.put(
        request.app[DB], name, price_multiplier=price, note=note or None, **limits
    )
    await invalidation.publish(request.app[REDIS], invalidation.GROUPS_CHANGED, name)
    await _record(request, who, "group_created" if created else "group_changed", group.public())
    return web.json_response(group.public(), status=201 if created else 200)


async def delete_group(request: web.Request) -> web.Response:
    who = caller(request)
    who.require_admin()
    name = _name(request)
    if not await groups.delete(request.app[DB], name):
        raise NotFound("no such group")
    await invalidation.publish(request.app[REDIS], invalidation.GROUPS_CHANGED, name)
    await _record(request, who, "group_deleted", {"name": name})
    return web.Response(status=204)


async def _record(request: web.Request, who: Caller, kind: str, detail: dict[str, Any]) -> None:
    """In the admin's own security log: what they changed."""
    await store.record_event(
        request.app[DB],
        kind,
        user_id=who.user_id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={k: v for k, v in detail.items() if k not in ("created_at", "updated_at")},
    )
