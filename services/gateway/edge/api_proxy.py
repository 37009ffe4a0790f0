"""Forwarding `/api/*` to the service that owns it.

The gateway authenticates the caller, strips every hop-by-hop header, every
client-supplied `X-Tollgate-*` header, the credential and cookies (but those
a route names for its owner: `ApiRoute.cookies`), then adds the internal
token, the principal, the client IP and the request id. The browser session
cookie authenticates like a login token, after the CSRF checks
(`session_guard`); the session's id and CSRF token travel to the service
(auth's session list marks the current one, logout ends it, the console puts
the token in its pages), and the id on auth's public routes
(sign-in) too when the cookie is still good, so a sign-in can end the session
it replaces. The answer comes back with hop-by-hop headers dropped, and cookies
too unless auth sent them (it sets and clears the session cookie). Service
outages are 503s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.gateway.admission.principals import Principal, credential_from
from services.gateway.app_keys import INTERNAL_SESSION, JWKS, KEY_CACHE, SESSION_CACHE, SETTINGS
from services.gateway.edge import api_routes, session_guard
from services.gateway.edge.api_routes import Owner
from shared import internal, session_cookie
from shared.bodies import API_BODY_LIMIT, read_limited
from shared.errors import ServiceUnavailable, Unauthorized
from shared.request_id import HEADER as REQUEST_ID_HEADER
from shared.request_id import REQUEST_ID

_log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_NOT_FORWARDED = (
    HOP_BY_HOP
    | {
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "cookie",
        "x-forwarded-for",
        "x-real-ip",
    }
    | {name.lower() for name in internal.TOLLGATE_HEADERS}
)
_NOT_RETURNED = HOP_BY_HOP | {"set-cookie", "server", "date"}
_NOT_RETURNED_FROM_AUTH = _NOT_RETURNED - {"set-cookie"}


def forwarded_headers(incoming: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in incoming.items() if k.lower() not in _NOT_FORWARDED)


def client_ip(request: web.Request, trust_forwarded_for: bool) -> str | None:
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote


def _console_client_ip(request: web.Request) -> str | None:
    """The browser's address, when the caller is the console (it holds the
    internal token) calling on a browser's behalf; see services/console/api_client.py."""
    ip = request.headers.get(internal.CLIENT_IP_HEADER)
    if not ip:
        return None
    token = request.app[SETTINGS].common.internal_token
    return ip if internal.token_matches(request.headers.get(internal.TOKEN_HEADER), token) else None


def _session_cookie(request: web.Request) -> str | None:
    secure = request.app[SETTINGS].session_cookie_secure
    return request.cookies.get(session_cookie.cookie_name(secure)) or None


async def authenticate(request: web.Request) -> Principal | None:
    """The caller of an `/api/*` route (never a relay route: the cookie counts here only)."""
    credential = credential_from(
        request.headers, request.query, session_cookie=_session_cookie(request)
    )
    if credential is None:
        return None
    if credential.kind == "jwt":
        return await request.app[JWKS].verify(credential.value)
    if credential.kind == "session":
        origin = session_cookie.origin_of(request.app[SETTINGS].public_url)
        session_guard.check(request.method, request.headers, credential.value, origin)
        return await request.app[SESSION_CACHE].principal(credential.value)
    return await request.app[KEY_CACHE].principal(credential.value)


async def _session_on_public_route(request: web.Request) -> Principal | None:
    """The session a request to a public auth route comes with, if still good;
    nothing is refused here (a dead cookie must not stop a sign-in)."""
    value = _session_cookie(request)
    if value is None:
        return None
    try:
        return await request.app[SESSION_CACHE].principal(value)
    except (Unauthorized, ServiceUnavailable):
        return None


def _base_url(request: web.Request, owner: Owner) -> str:
    settings = request.app[SETTINGS]
    return {
        Owner.AUTH: settings.auth_url,
        Owner.BILLING: settings.billing_url,
        Owner.USAGE: settings.usage_url,
    }[owner]


async def forward(request: web.Request) -> web.StreamResponse:
    """`/api/*`: to the service that owns the path."""
    return await _send(request, api_routes.route_for(request.path), request.rel_url.raw_path)


async def jwks_document(request: web.Request) -> web.StreamResponse:
    """`/.well-known/jwks.json`: auth's public signing keys."""
    return await _send(request, api_routes.route_for("/api/auth/jwks"), "/api/auth/jwks")


async def _send(request: web.Request, route: api_routes.ApiRoute, path: str) -> web.StreamResponse:
    principal = None if route.public else await authenticate(request)
    api_routes.authorise(route, request.method, principal)
    session = principal
    if route.public and route.owner is Owner.AUTH:
        session = await _session_on_public_route(request)
    headers = _internal_headers(request, principal, session)
    if named := [f"{n}={request.cookies[n]}" for n in route.cookies if n in request.cookies]:
        headers["Cookie"] = "; ".join(named)
    not_returned = _NOT_RETURNED_FROM_AUTH if route.owner is Owner.AUTH else _NOT_RETURNED
    body = await read_limited(request, API_BODY_LIMIT) if request.can_read_body else None
    # The credential may ride in ?key=; it never travels past the gateway.
    query = [(k, v) for k, v in request.query.items() if k != "key"]
    url = _base_url(request, route.owner) + path
    try:
        async with request.app[INTERNAL_SESSION].request(
            request.method,
            url,
            params=query,
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60),
        ) as upstream:
            returned = CIMultiDict(
                (name, value)
                for name, value in upstream.headers.items()
                if name.lower() not in not_returned and name.lower() != "x-request-id"
            )
            if upstream.headers.get("Transfer-Encoding", "").lower() != "chunked":
                # Small answers are read whole, so a failure is still answerable.
                answer = await upstream.read()
                return web.Response(
                    status=upstream.status, reason=upstream.reason, body=answer, headers=returned
                )
            return await _stream_back(request, upstream, returned)
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        _log.warning("internal service unreachable", extra={"service": route.owner.value})
        raise ServiceUnavailable(f"the {route.owner.value} service is unavailable") from exc


def _internal_headers(
    request: web.Request, principal: Principal | None, session: Principal | None
) -> CIMultiDict[str]:
    settings = request.app[SETTINGS]
    headers = forwarded_headers(request.headers)
    headers[internal.TOKEN_HEADER] = settings.common.internal_token
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    ip = _console_client_ip(request) or client_ip(request, settings.trust_forwarded_for)
    if ip:
        headers[internal.CLIENT_IP_HEADER] = ip
    if ua := request.headers.get("User-Agent"):
        headers[internal.USER_AGENT_HEADER] = ua
    if principal is not None:
        headers[internal.USER_HEADER] = str(principal.user_id)
        headers[internal.ROLE_HEADER] = principal.role
        headers[internal.CREDENTIAL_HEADER] = principal.via
    if session is not None and session.session_id is not None:
        headers[internal.SESSION_HEADER] = str(session.session_id)
    if principal is not None and principal.via == "session":
        cookie = _session_cookie(request)
        assert cookie is not None  # the cookie was the credential
        headers[internal.CSRF_TOKEN_HEADER] = session_cookie.csrf_token(cookie)
    return headers


async def _stream_back(
    request: web.Request, upstream: aiohttp.ClientResponse, headers: CIMultiDict[str]
) -> web.StreamResponse:
    """Long answers (exports) pass through as they come; a break mid-way cuts
    the chunked response short, which the client sees as an error, never as a
    complete file."""
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    await response.prepare(request)
    try:
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
        _log.warning("internal answer broke off mid-stream")
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response
