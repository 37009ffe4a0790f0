"""The contract between the gateway and the internal services.

Internal services answer only calls that carry the internal token; the gateway
is the only public edge. The gateway authenticates the client and passes who
it is in `X-Tollgate-*` headers, which it always strips from client requests
first; a service trusts them only next to a valid internal token.
"""

from __future__ import annotations

import hmac
import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.errors import Forbidden, Unauthorized

TOKEN_HEADER = "X-Tollgate-Internal-Token"
USER_HEADER = "X-Tollgate-User-Id"
ROLE_HEADER = "X-Tollgate-Role"
CREDENTIAL_HEADER = "X-Tollgate-Credential"
CLIENT_IP_HEADER = "X-Tollgate-Client-Ip"
USER_AGENT_HEADER = "X-Tollgate-User-Agent"
# The browser session the request came with, as the gateway verified it (its id).
SESSION_HEADER = "X-Tollgate-Session"
# That session's CSRF token, which only a reader of the cookie can compute: the
# console embeds it in its pages without ever seeing the cookie.
CSRF_TOKEN_HEADER = "X-Tollgate-Csrf-Token"

TOLLGATE_HEADERS = (
    TOKEN_HEADER,
    USER_HEADER,
    ROLE_HEADER,
    CREDENTIAL_HEADER,
    CLIENT_IP_HEADER,
    USER_AGENT_HEADER,
    SESSION_HEADER,
    CSRF_TOKEN_HEADER,
)

# `/metrics` is on the metrics port, not here (shared/service.py).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})

INTERNAL_TOKEN = web.AppKey("internal_token", str)


def token_matches(presented: str | None, expected: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


@web.middleware
async def internal_token_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path not in PUBLIC_PATHS:
        if not token_matches(request.headers.get(TOKEN_HEADER), request.app[INTERNAL_TOKEN]):
            raise Unauthorized("internal token missing or wrong")
    response: web.StreamResponse = await handler(request)
    return response


@dataclass(frozen=True, kw_only=True)
class Caller:
    """Who made a forwarded request, as the gateway established it."""

    user_id: uuid.UUID | None
    role: str | None
    credential: str | None
    client_ip: str | None
    user_agent: str | None
    session_id: uuid.UUID | None = None
    csrf_token: str | None = field(default=None, repr=False)

    def require_user(self) -> uuid.UUID:
        if self.user_id is None:
            raise Unauthorized("authentication required")
        return self.user_id

    def require_admin(self) -> uuid.UUID:
        user_id = self.require_user()
        if self.role != "admin":
            raise Forbidden("admin role required")
        return user_id


def caller(request: web.Request) -> Caller:
    raw_user = request.headers.get(USER_HEADER)
    try:
        user_id = uuid.UUID(raw_user) if raw_user else None
    except ValueError:
        user_id = None
    raw_ip = request.headers.get(CLIENT_IP_HEADER) or request.remote
    try:
        client_ip = str(ipaddress.ip_address(raw_ip)) if raw_ip else None
    except ValueError:
        client_ip = None
    return Caller(
        user_id=user_id,
        role=request.headers.get(ROLE_HEADER),
        credential=request.headers.get(CREDENTIAL_HEADER),
        client_ip=client_ip,
        user_agent=(request.headers.get(USER_AGENT_HEADER) or "")[:512] or None,
        session_id=_uuid_or_none(request.headers.get(SESSION_HEADER)),
        csrf_token=request.headers.get(CSRF_TOKEN_HEADER) or None,
    )


def _uuid_or_none(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None
