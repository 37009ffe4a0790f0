"""`/api/admin/model-aliases`: the names clients may use for a model.

`PUT /api/admin/model-aliases/{alias}` `{"model": ...}` sets one (201 when new,
200 when changed), `GET /api/admin/model-aliases` lists them, `DELETE` removes
one. Admin login only. An alias resolves once: it may not name another alias,
nor be the model of one. Both names follow `client_input.name_problem` (the
alias in the path too: a `%00` there is a 422). Changes are announced like
channel changes.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.app_keys import CHANNEL_CACHE, CHANNEL_SWITCH
from services.gateway.channels.admin import require_admin
from services.gateway.channels.alias_store import AliasStore
from shared.bodies import Fields, read_object
from shared.client_input import MODEL_NAME_MAX, cap, name_problem
from shared.errors import NotFound, Unprocessable
from shared.service import DB

MAX_NAME = MODEL_NAME_MAX


def _alias(request: web.Request) -> str:
    alias = request.match_info["alias"]
    problem = name_problem(alias, max_length=MAX_NAME)
    if problem is not None:
        raise Unprocessable("invalid alias in the path", details=[f"alias: {problem}"])
    return alias


async def list_aliases(request: web.Request) -> web.Response:
    await require_admin(request)
    aliases = await AliasStore(request.app[DB]).all()
    return web.json_response({"data": [{"alias": a, "model": m} for a, m in aliases.items()]})


async def put_alias(request: web.Request) -> web.Response:
    await require_admin(request)
    alias = _alias(request)
    fields = Fields(await read_object(request))
    model = fields.string("model", max_length=MAX_NAME, controls="none")
    if model is not None:
        aliases = request.app[CHANNEL_CACHE].table.aliases
        if not model.strip():
            fields.problems.append("model: must not be blank")
        elif model == alias:
            fields.problems.append("model: an alias cannot name itself")
        elif model in aliases:
            fields.problems.append(
                f"model: {cap(model)} is itself an alias; name the model it stands for"
            )
        if alias in aliases.values():
            fields.problems.append(f"alias: {cap(alias)} is the model of another alias")
    fields.check()
    assert model is not None
    created = await AliasStore(request.app[DB]).put(alias, model)
    await request.app[CHANNEL_SWITCH].announce()
    return web.json_response({"alias": alias, "model": model}, status=201 if created else 200)


async def delete_alias(request: web.Request) -> web.Response:
    await require_admin(request)
    if not await AliasStore(request.app[DB]).delete(_alias(request)):
        raise NotFound("alias not found")
    await request.app[CHANNEL_SWITCH].announce()
    return web.Response(status=204)
