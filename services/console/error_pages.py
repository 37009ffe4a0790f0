"""Errors as pages: a person who follows a dead link, sends a form from another
site, or reaches the console while the API is down gets a page in their
language with a way back, never the JSON error body the API services answer.

The middleware sits outside the console's others, so it sees what they raise
(`security.middleware`'s refused Origin included). `/healthz`, `/readyz` and
`/metrics` keep the shared JSON answers (they are for machines).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from services.console.render import render
from shared.errors import ApiError, ServiceUnavailable

_log = logging.getLogger(__name__)
_MACHINE_PATHS = ("/healthz", "/readyz", "/metrics")
# The page's sentence for each status (the template translates the kind).
_KINDS = {403: "forbidden", 404: "not_found", 405: "not_found", 503: "unavailable"}


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path in _MACHINE_PATHS:
        response: web.StreamResponse = await handler(request)
        return response
    try:
        response = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _page(request, exc.status)
    except ServiceUnavailable:
        return _page(request, 503)
    except ApiError as error:
        return _page(request, error.status)
    except Exception:
        _log.exception("console page failed", extra={"path": request.path})
        return _page(request, 500)


def _page(request: web.Request, status: int) -> web.Response:
    kind = _KINDS.get(status, "internal" if status >= 500 else "other")
    return render(
        request,
        "error.html",
        {"problem": {"kind": kind, "message": "", "details": []}},
        status=status,
    )
