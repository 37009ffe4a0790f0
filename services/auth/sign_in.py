"""Finishing a sign-in: the one place a proven user is handed a credential.

Every way in ends here once the user has proven who they are: the password
(and the second factor when it is on), an OpenID/OAuth provider, or a
sign-in link mailed to the account's address. `finish` issues the credential
the client asked for (a bearer JWT for API clients, a browser session cookie
for the console), records the `login` security event and sends the notices a
sign-in causes. Nothing before it may hand out a credential.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from services.auth import notices, sessions, store, suspension
from services.auth.keys import SETTINGS, SIGNING_KEYS
from services.auth.settings import JWT_AUDIENCE
from services.auth.signing import issue_token
from shared.internal import caller
from shared.service import DB

Method = Literal["password", "mfa", "oauth", "mailed_link"]


@dataclass(kw_only=True)
class Finished:
    """What a finished sign-in hands the client: a JSON body and cookies to set."""

    body: dict[str, Any]
    cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def apply(self, response: web.StreamResponse) -> web.StreamResponse:
        """Set the cookies on any response (a JSON answer or a redirect)."""
        for name, value, options in self.cookies:
            response.set_cookie(name, value, **options)
        return response

    def json(self) -> web.Response:
        response = web.json_response(self.body)
        self.apply(response)
        return response


async def jwt_for(request: web.Request, user: store.User) -> dict[str, Any]:
    """The API client's answer: a bearer JWT."""
    app = request.app
    settings = app[SETTINGS]
    token = issue_token(
        await app[SIGNING_KEYS].current(),
        user_id=user.id,
        role=user.role,
        issuer=settings.jwt_issuer,
        audience=JWT_AUDIENCE,
        ttl_seconds=settings.token_ttl_seconds,
        generation=user.token_generation,
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl_seconds}


async def finish(
    request: web.Request, user: store.User, *, method: Method, session: bool = False
) -> Finished:
    """Record the sign-in and hand out the credential: a session cookie when
    `session` (browsers), else a JWT (API clients). A suspended account is
    refused here, after its proof, whichever way it came in."""
    who = caller(request)
    suspension.refuse(user.suspended_at is not None, user.suspended_reason)
    if session:
        body, cookie = await sessions.start(request, user)
        done = Finished(body=body, cookies=[cookie])
    else:
        done = Finished(body=await jwt_for(request, user))
    await notices.after_sign_in(request.app, user.id, who)  # before this login is recorded
    await store.record_event(
        request.app[DB],
        "login",
        user_id=user.id,
        ip=who.client_ip,
        user_agent=who.user_agent,
        detail={"method": method} if method != "password" else None,
    )
    return done
