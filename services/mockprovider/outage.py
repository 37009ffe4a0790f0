"""Instance-wide faults: this mock provider as a whole misbehaving, until told otherwise.

Per-request controls (`behaviour`) cannot tell two providers apart when one
gateway spreads the same request over several channels. A test that runs
several mock providers makes one of them fail for every request it gets:

    PUT /mock/outage    {"controls": "status=503", "refuse_keys": false}
    DELETE /mock/outage (back to normal)

`controls` is a model-suffix control string (see `behaviour`), applied before
the request's own controls; `refuse_keys: true` answers 401 in the provider's
format to every credential, as a provider does for a revoked key. Every
redirect test uses `/mock/redirect/...`, which always answers 307 to the
cloud metadata address, the worst place a gateway could be sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

from services.mockprovider import behaviour as controls
from services.mockprovider.errors import BadRequest

METADATA_URL = "http://169.254.169.254/latest/meta-data/"


@dataclass
class Outage:
    controls: str | None = None
    refuse_keys: bool = False


OUTAGE = web.AppKey("outage", Outage)


async def set_outage(request: web.Request) -> web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest("body: a JSON object") from None
    if not isinstance(body, dict) or set(body) - {"controls", "refuse_keys"}:
        raise BadRequest('body: {"controls": "status=503", "refuse_keys": false}')
    suffix = body.get("controls") or None
    if suffix is not None:
        if not isinstance(suffix, str):
            raise BadRequest("controls: a model-suffix control string such as status=503")
        controls.parse({}, suffix)  # refuse a bad control now, not on every request
    outage = request.app[OUTAGE]
    outage.controls, outage.refuse_keys = suffix, bool(body.get("refuse_keys"))
    return web.json_response({"controls": outage.controls, "refuse_keys": outage.refuse_keys})


async def clear_outage(request: web.Request) -> web.Response:
    request.app[OUTAGE].controls = None
    request.app[OUTAGE].refuse_keys = False
    return web.Response(status=204)


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPTemporaryRedirect(METADATA_URL + request.match_info["tail"])
