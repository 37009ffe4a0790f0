"""`GET /api/models`: the models a signed-in person may limit a key to.

A login (a JWT, or a browser session cookie) only: an API key lists what it
may use with `GET /v1/models`, narrowed by its own allowlist; this list is the
whole catalog. Each entry is a model some enabled channel serves, or an alias
of one, with its family (the channel kind that serves it: `openai`,
`anthropic`, `gemini`), so the console can offer the models as choices and
write setup snippets for the client each family speaks. Sorted by family,
then name; a name served in two families appears once per family.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.app_keys import CHANNEL_CACHE
from services.gateway.edge.api_proxy import authenticate
from services.gateway.relay.apis import Family
from shared.errors import Forbidden, Unauthorized


async def list_model_choices(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    if principal is None:
        raise Unauthorized("authentication required")
    if principal.via == "api_key":
        raise Forbidden("this route needs a login token, not an API key (see GET /v1/models)")
    table = request.app[CHANNEL_CACHE].table
    data = [
        {"id": model, "family": family.value} for family in Family for model in table.models(family)
    ]
    return web.json_response({"data": data})
