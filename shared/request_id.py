"""The request id: taken from `X-Request-Id` when it is sane, made otherwise.

It is set in a context variable for the logs, kept on the request for
handlers that forward it, and echoed on every response.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from shared.logs import request_id_var

HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept(value: str | None) -> str:
    """The client's id when it is short and plain, a new one otherwise."""
    if value is not None and _SANE.fullmatch(value):
        return value
    return new_request_id()


@web.middleware
async def request_id_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    request_id = accept(request.headers.get(HEADER))
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
