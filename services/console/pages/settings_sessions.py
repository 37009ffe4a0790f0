"""Settings, the sessions page (`/settings/sessions`): where the account is signed
in (browser, address, when it started, when it was last used; this one marked),
ending one, and signing out everywhere else (`DELETE /api/me/sessions`)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from services.console.api_client import call
from services.console.pages.settings import saved
from services.console.render import (
    field,
    form_of,
    problem_of,
    redirect,
    render,
    signed_in,
    time_zone_of,
)


def _when(value: Any, zone: ZoneInfo) -> str:
    """An ISO time from the API in the visitor's zone, as `2026-12-05 21:04 CST`."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


# (pattern in the user agent, name shown), first match wins: Edge and Opera say Chrome too.
_BROWSERS = (
    (re.compile(r"\bEdg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"\bOPR/"), "Opera"),
    (re.compile(r"\bFirefox/|\bFxiOS/"), "Firefox"),
    (re.compile(r"Chrom(e|ium)/|\bCriOS/"), "Chrome"),
    (re.compile(r"\bVersion/[\d.]+.*\bSafari/"), "Safari"),
    (re.compile(r"^curl/"), "curl"),
)
_SYSTEMS = (
    (re.compile(r"iPhone|iPad|iPod"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Linux"), "Linux"),
)


def device_of(user_agent: str) -> dict[str, str]:
    """A short name for a session's browser and system, from its user agent:
    `{"browser": "Firefox", "system": "Windows"}`; "" for what is not recognised."""
    browser = next((name for found, name in _BROWSERS if found.search(user_agent)), "")
    system = next((name for found, name in _SYSTEMS if found.search(user_agent)), "")
    return {"browser": browser, "system": system}


def _row(session: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    user_agent = str(session.get("user_agent") or "")[:500]
    return {
        "id": str(session.get("id", "")),
        "user_agent": user_agent,
        **device_of(user_agent),
        "ip": str(session.get("ip") or ""),
        "created": _when(session.get("created_at"), zone),
        "last_used": _when(session.get("last_used_at"), zone),
        "last_used_at": str(session.get("last_used_at") or ""),
        "current": session.get("current") is True,
    }


async def sessions(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    answer = await call(request, "GET", "/api/me/sessions")
    found = answer.body.get("data") if answer.ok and isinstance(answer.body, dict) else None
    zone = ZoneInfo(time_zone_of(request, visitor.me))  # the profile's, the browser's, or UTC
    listed = found if isinstance(found, list) else None
    rows = None if listed is None else [_row(s, zone) for s in listed if isinstance(s, dict)]
    if rows is not None:  # this one first, then the most recently used
        rows.sort(key=lambda row: str(row["last_used_at"]), reverse=True)
        rows.sort(key=lambda row: not row["current"])
    revoked = request.query.get("count", "")
    return render(
        request,
        "settings_sessions.html",
        {
            **visitor.context(),
            "sessions": rows,
            "saved": saved(request),
            "revoked_count": int(revoked) if revoked.isdigit() and len(revoked) < 6 else 0,
        },
    )


async def revoke(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    try:
        session_id = uuid.UUID(field(form, "session_id"))
    except ValueError:
        raise redirect("/settings/sessions") from None
    answer = await call(
        request,
        "DELETE",
        f"/api/me/sessions/{session_id}",
        csrf_token=field(form, "csrf_token"),
    )
    if answer.ok or answer.status == 404:  # ended already: the list shows what is left
        raise redirect("/settings/sessions?saved=revoked", answer)
    return render(request, "error.html", {"problem": problem_of(answer)}, status=answer.status)


async def revoke_others(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    answer = await call(request, "DELETE", "/api/me/sessions", csrf_token=field(form, "csrf_token"))
    if answer.ok:
        count = answer.body.get("revoked", 0) if isinstance(answer.body, dict) else 0
        raise redirect(f"/settings/sessions?saved=others&count={int(count)}")
    return render(request, "error.html", {"problem": problem_of(answer)}, status=answer.status)


async def back_to_sessions(request: web.Request) -> web.StreamResponse:
    raise redirect("/settings/sessions")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/settings/sessions", sessions)
    router.add_get("/settings/sessions/revoke", back_to_sessions)
    router.add_get("/settings/sessions/revoke-others", back_to_sessions)
    router.add_post("/settings/sessions/revoke", revoke)
    router.add_post("/settings/sessions/revoke-others", revoke_others)
