"""Admin: system status (`/admin/system`): each service's readiness, the usage
stream and its consumer groups, and the money reconciliation.

From the gateway's `GET /api/admin/system` (readiness of the gateway, auth,
billing, usage and the console; the stream's length, each group's pending
and lag, unresolved dead letters) and billing's `GET|POST /api/admin/reconcile`
(the last run; a new run of the checks `tollgate reconcile` makes). Running
reconcile is a plain form; the page it returns to shows the new last run.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.console.api_client import call
from services.console.pages.admin_shared import admin_visitor, refused, when
from services.console.render import field, form_of, redirect, render


def _run(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or not isinstance(body.get("last"), dict):
        return None
    last = body["last"]
    return {
        "ok": bool(last.get("ok")),
        "finished": when(last.get("finished_at")),
        "violations": [str(v) for v in last.get("violations") or []],
        "notes": [str(n) for n in last.get("notes") or []],
    }


async def page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    system = await call(request, "GET", "/api/admin/system")
    refused(system)
    reconcile = await call(request, "GET", "/api/admin/reconcile")
    body = system.body if system.ok and isinstance(system.body, dict) else None
    context = {
        **visitor.context(),
        "services": body.get("services", []) if body else None,
        "stream": body.get("stream") if body else None,
        "reconcile": _run(reconcile.body) if reconcile.ok else None,
        "reconcile_readable": reconcile.ok,
        "reconciled": request.query.get("reconciled") == "1",
    }
    return render(request, "admin_system.html", context)


async def run_reconcile(request: web.Request) -> web.StreamResponse:
    await admin_visitor(request)
    form = await form_of(request)
    answer = await call(
        request, "POST", "/api/admin/reconcile", csrf_token=field(form, "csrf_token")
    )
    refused(answer)
    if not answer.ok:
        raise web.HTTPBadGateway(text="Reconcile cannot run right now.")
    raise redirect("/admin/system?reconciled=1")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/system", page)
    router.add_post("/admin/system/reconcile", run_reconcile)
