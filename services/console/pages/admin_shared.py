"""What the admin pages share: only an admin may see them, and times read alike.

A visitor without the admin role gets the console's 404 page, as for an address
that does not exist (the admin API refuses them anyway: every admin page's data
comes from `/api/admin/*`, which checks the role itself).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.console.api_client import Answer
from services.console.render import SignedIn, problem_of, signed_in


async def admin_visitor(request: web.Request) -> SignedIn:
    """The signed-in admin; a stranger is sent to sign in, anyone else gets a 404 page."""
    visitor = await signed_in(request)
    if not visitor.is_admin:
        raise web.HTTPNotFound()
    return visitor


def when(value: Any) -> str | None:
    """An API timestamp as the admin pages show it: `2026-12-05 13:02:07 UTC`."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def refused(answer: Answer) -> None:
    """Raise the page for an admin API answer that refuses the visitor: the sign-in
    page for a session that ended, the 403 page for a form without this session's
    CSRF token or from another origin, the 404 page for anyone who is not an admin."""
    if answer.status == 401:
        raise web.HTTPSeeOther("/login")
    if answer.status == 403:
        if problem_of(answer)["kind"] == "csrf":
            raise web.HTTPForbidden()
        raise web.HTTPNotFound()
