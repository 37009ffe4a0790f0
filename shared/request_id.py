"""The request id: made at the public edge, carried through the internal services.

The gateway makes a fresh id for every request and never takes one from a
client: the id of a relayed request is its hold's id and its usage event's
id, the key billing charges exactly once by, so a client that chose it could
make two requests one charge. Internal services take the id the gateway
sends (`X-Request-Id`, when it is sane), so one request's log lines share it
across services. The id is set in a context variable for the logs, kept on
the request for handlers that forward it, and echoed on every response.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from shared.logs import request_id_var

HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id() -> str:
    """128 random bits as 32 hex digits (as unique as a UUID4, with less work)."""
    return secrets.token_hex(16)


def accept(value: str | None) -> str:
    """The caller's id when it is short and plain, a new one otherwise."""
    if value is not None and _SANE.fullmatch(value):
        return value
    return new_request_id()


def request_id_middleware(*, trust_caller: bool) -> Any:
    """Sets the request id: the caller's (internal services) or always a new one (the edge)."""

    @web.middleware
    async def request_id(request: web.Request, handler: Any) -> web.StreamResponse:
        request_id = accept(request.headers.get(HEADER)) if trust_caller else new_request_id()
        request[REQUEST_ID] = request_id
        token = request_id_var.set(request_id)
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            exc.headers[HEADER] = request_id
            raise
        finally:
            request_id_var.reset(token)
        if not response.prepared:
            response.headers[HEADER] = request_id
        return response

    return request_id
