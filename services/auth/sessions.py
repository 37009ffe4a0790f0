"""Browser sessions: started at sign-in, ended by their owner, rotated.

A session is a 256-bit random cookie value (`shared.session_cookie`); the
database keeps its SHA-256 only. The cookie is HttpOnly, SameSite=Lax,
`Path=/`, Secure unless the operator turned that off (dev), and lives until
the session's absolute expiry. The CSRF token is derived from the value and
handed out with it at sign-in; nothing stores it.

Rotation: every sign-in makes a new session and ends the one the browser came
with (so a sign-in after the second factor, or with a provider, replaces what
the browser held); a role change ends every session of the user (`set_role`);
a password change or reset voids them through the token generation. Every end
is announced, so every gateway drops its cached copy within a second.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from services.auth import session_store, store
from services.auth.keys import SETTINGS
from services.auth.settings import Settings
from shared import invalidation, session_cookie
from shared.errors import Forbidden
from shared.internal import caller
from shared.redis_conn import Redis
from shared.service import DB, REDIS

Cookie = tuple[str, str, dict[str, Any]]


def cookie_options(settings: Settings) -> dict[str, Any]:
    return {
        "max_age": settings.session_absolute_seconds,
        "path": "/",
        "secure": settings.session_cookie_secure,
        "httponly": True,
        "samesite": "Lax",
    }


def clear_cookie(response: web.StreamResponse, settings: Settings) -> None:
    response.del_cookie(
        session_cookie.cookie_name(settings.session_cookie_secure),
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="Lax",
    )


def check_sign_in_origin(request: web.Request) -> None:
    """Refuse a session sign-in posted by another site's page (login CSRF: it
    would sign the victim's browser into the attacker's account). Clients that
    are not browsers send no Origin and are not concerned."""
    origin = request.headers.get("Origin")
    expected = session_cookie.origin_of(request.app[SETTINGS].public_url)
    if origin is not None and not session_cookie.same_origin(origin, expected):
        raise Forbidden(f"a session sign-in must come from the console's own origin ({expected})")


async def start(request: web.Request, user: store.User) -> tuple[dict[str, Any], Cookie]:
    """A new session for `user`: the answer's body and the cookie to set. The
    session the request came with, if any, ends (rotation at sign-in)."""
    app, who = request.app, caller(request)
    settings = app[SETTINGS]
    value = session_cookie.new_value()
    created = await session_store.create(
        app[DB],
        user_id=user.id,
        token_hash=session_cookie.digest(value),
        absolute_seconds=settings.session_absolute_seconds,
        ip=who.client_ip,
        user_agent=who.user_agent,
    )
    if who.session_id is not None and await session_store.revoke_by_id(app[DB], who.session_id):
        await announce_ended(app[REDIS], [who.session_id])
    body = {
        "session": {
            **created.public(current=created.id),
            "idle_timeout_seconds": settings.session_idle_seconds,
        },
        "csrf_token": session_cookie.csrf_token(value),
    }
    cookie_name = session_cookie.cookie_name(settings.session_cookie_secure)
    return body, (cookie_name, value, cookie_options(settings))


async def announce_ended(redis: Redis, session_ids: list[uuid.UUID]) -> None:
    """Tell every gateway. If a notice is lost the database already refuses
    the session; gateways that miss it cache nothing until resubscribed."""
    for session_id in session_ids:
        await invalidation.publish(redis, invalidation.SESSION_REVOKED, str(session_id))


async def set_role(app: web.Application, user_id: uuid.UUID, role: str) -> None:
    """Change a user's role; a change ends every session of the user
    (`store.set_role` revokes them in the same statement) and every gateway
    forgets what it cached about the user."""
    await store.set_role(app[DB], user_id, role)
    await invalidation.publish(app[REDIS], invalidation.USER_CREDENTIALS_CHANGED, str(user_id))
