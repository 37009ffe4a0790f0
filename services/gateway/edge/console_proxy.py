"""Forwarding every path outside the API to the web console.

The gateway is the only public edge; the console (`services/console/`) is
internal. Paths under `/api`, `/v1`, `/v1beta`, `/.well-known`, `/internal`, and
`/healthz`, `/readyz`, `/metrics` are never forwarded (their own routes, or
404). Everything else goes to `CONSOLE_URL` as it came, but:

- hop-by-hop headers and every client-supplied `X-Tollgate-*` header are
  dropped; the gateway adds the internal token (the console refuses requests
  without it), the request id and the client address it established
  (`X-Tollgate-Client-Ip`, which the console hands back to `/api/*` calls so
  the per-source throttles see the browser, not the console);
- the `Cookie` header goes through (the console passes the session cookie on
  to the API, which is what authenticates; `/api/*` forwarding strips
  cookies, this does not), and `Set-Cookie` comes back;
- redirects are not followed: a 303 from the console reaches the browser.

Only GET, HEAD and POST are forwarded (the console serves nothing else);
bodies are limited to the API's limit. A console that does not answer is 503.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.gateway.app_keys import INTERNAL_SESSION, SETTINGS
from services.gateway.edge.api_proxy import HOP_BY_HOP, client_ip
from shared import internal
from shared.bodies import API_BODY_LIMIT, read_limited
from shared.errors import NotFound, ServiceUnavailable
from shared.request_id import HEADER as REQUEST_ID_HEADER
from shared.request_id import REQUEST_ID

_log = logging.getLogger(__name__)

# Never the console's: the API, model traffic, discovery and the service endpoints.
# `/internal` is no client's, nor the console's: the services' own calls (DESIGN 7).
RESERVED_PREFIXES = ("/api", "/v1", "/v1beta", "/.well-known", "/internal")
RESERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_TOLLGATE = frozenset(name.lower() for name in internal.TOLLGATE_HEADERS)
_NOT_FORWARDED = HOP_BY_HOP | _TOLLGATE | {"x-forwarded-for", "x-real-ip", "x-request-id"}
_NOT_RETURNED = HOP_BY_HOP | {"server", "date", "x-request-id"}


def is_console_path(path: str) -> bool:
    if path in RESERVED_PATHS:
        return False
    return not any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED_PREFIXES)


async def forward(request: web.Request) -> web.StreamResponse:
    """Any path the other routes do not claim."""
    if not is_console_path(request.path):
        raise NotFound("no such endpoint")
    settings = request.app[SETTINGS]
    headers = CIMultiDict(
        (name, value)
        for name, value in request.headers.items()
        if name.lower() not in _NOT_FORWARDED
    )
    headers[internal.TOKEN_HEADER] = settings.common.internal_token
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    if ip := client_ip(request, settings.trust_forwarded_for):
        headers[internal.CLIENT_IP_HEADER] = ip
    body = await read_limited(request, API_BODY_LIMIT) if request.can_read_body else None
    try:
        async with request.app[INTERNAL_SESSION].request(
            request.method,
            settings.console_url + request.rel_url.raw_path_qs,
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=60, sock_connect=5),
        ) as upstream:
            returned = CIMultiDict(
                (name, value)
                for name, value in upstream.headers.items()
                if name.lower() not in _NOT_RETURNED
            )
            answer = await upstream.read()
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        _log.warning("console unreachable")
        raise ServiceUnavailable("the console is unavailable") from exc
    return web.Response(
        status=upstream.status, reason=upstream.reason, body=answer, headers=returned
    )
