"""Browser sessions over HTTP: the owner's list, revocation, logout, and the
gateway's verify.

The gateway passes the session a request came with in `X-Tollgate-Session`
(the id, after verifying the cookie) and its CSRF token, so the list can mark
the current one, logout knows which to end, and `GET /api/auth/session` can
hand a page the token again (after a reload, say). Every id in a path is
checked against the caller's own sessions; another user's session is a 404.
Every end is announced after the database has it.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from services.auth import session_store, sessions, store, suspension
from services.auth.keys import SETTINGS
from shared import session_cookie
from shared.bodies import Fields, read_object
from shared.errors import NotFound, Unauthorized
from shared.internal import Caller, caller
from shared.service import DB, REDIS


def _session_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["session_id"])
    except ValueError:
        raise NotFound("session not found") from None


async def _record(request: web.Request, who: Caller, kind: str, ended: list[uuid.UUID]) -> None:
    await store.record_event(
        request.app[DB],
        kind,
        user_id=who.user_id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"session_ids": [str(session_id) for session_id in ended]},
    )


async def list_sessions(request: web.Request) -> web.Response:
    who = caller(request)
    live = await session_store.list_live(
        request.app[DB], who.require_user(), request.app[SETTINGS].session_idle_seconds
    )
    return web.json_response({"data": [s.public(current=who.session_id) for s in live]})


async def current_session(request: web.Request) -> web.Response:
    """The session this request came with and its CSRF token; 404 without one."""
    who = caller(request)
    user_id = who.require_user()
    if who.session_id is None or who.csrf_token is None:
        raise NotFound("this request carries no browser session")
    live = await session_store.list_live(
        request.app[DB], user_id, request.app[SETTINGS].session_idle_seconds
    )
    found = next((s for s in live if s.id == who.session_id), None)
    if found is None:
        raise NotFound("this request carries no browser session")
    return web.json_response(
        {"session": found.public(current=found.id), "csrf_token": who.csrf_token}
    )


async def revoke_session(request: web.Request) -> web.Response:
    who, session_id = caller(request), _session_id(request)
    if not await session_store.revoke(request.app[DB], who.require_user(), session_id):
        raise NotFound("session not found")
    await sessions.announce_ended(request.app[REDIS], [session_id])
    await _record(request, who, "session_revoked", [session_id])
    response = web.Response(status=204)
    if session_id == who.session_id:
        sessions.clear_cookie(response, request.app[SETTINGS])
    return response


async def revoke_other_sessions(request: web.Request) -> web.Response:
    """Sign out everywhere else: every session but the one of this request
    (which `POST /api/auth/logout` ends)."""
    who = caller(request)
    ended = await session_store.revoke_all(request.app[DB], who.require_user(), keep=who.session_id)
    await sessions.announce_ended(request.app[REDIS], ended)
    if ended:
        await _record(request, who, "sessions_revoked", ended)
    return web.json_response({"revoked": len(ended)})


async def logout(request: web.Request) -> web.Response:
    """End the session this request came with and clear its cookie. With a
    login token there is no session to end (a JWT lives until it expires)."""
    who = caller(request)
    user_id = who.require_user()
    session_id = who.session_id
    if session_id is not None and await session_store.revoke(request.app[DB], user_id, session_id):
        await sessions.announce_ended(request.app[REDIS], [session_id])
        await _record(request, who, "logout", [session_id])
    response = web.Response(status=204)
    sessions.clear_cookie(response, request.app[SETTINGS])
    return response


async def verify_session(request: web.Request) -> web.Response:
    """Internal: the gateway asks whose a session cookie is."""
    fields = Fields(await read_object(request))
    value = fields.string("session", max_length=200, controls="none")
    fields.check()
    assert value is not None
    if not session_cookie.is_well_formed(value):
        raise Unauthorized("invalid session")
    verified = await session_store.verify(
        request.app[DB],
        session_cookie.digest(value),
        request.app[SETTINGS].session_idle_seconds,
    )
    if verified is None:
        raise Unauthorized("the session has ended; sign in again")
    if verified.suspended:  # 401: the gateway renders it "sign in again", which says why
        raise Unauthorized(suspension.message(verified.suspended_reason))
    found = verified.session
    return web.json_response(
        {
            "session_id": str(found.id),
            "user_id": str(found.user_id),
            "role": verified.role,
            "expires_at": found.absolute_expires_at.isoformat(),
        }
    )
