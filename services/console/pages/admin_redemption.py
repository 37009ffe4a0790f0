"""Admin: redemption codes (`/admin/redemption-codes`): the batches, and a form
that creates one.

From billing's `GET|POST /api/admin/redemption-codes`. The codes of a new
batch are in the API's answer once, and so on the page the form posts to
once: listed with copy buttons (`static/copy.js`) and a warning that they will
never be shown again (billing keeps only their hashes). The page is not a
redirect and is sent no-store like every console page. The expiry field is
read as UTC and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from services.console.api_client import call
from services.console.pages.admin_shared import admin_visitor, refused, when
from services.console.render import SignedIn, field, form_of, problem_of, render

PATH = "/admin/redemption-codes"
API = "/api/admin/redemption-codes"
COPY_EACH = 50  # a copy button per code up to this many; beyond, "copy all" only


def _batch(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "created": when(row.get("created_at")),
        "expires": when(row.get("expires_at")),
        "expired": _past(row.get("expires_at")),
    }


def _past(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value) <= datetime.now(UTC)
    except ValueError:
        return False


def _values(form: MultiDictProxy[Any] | None = None) -> dict[str, str]:
    names = ("count", "amount", "expires_at", "note")
    defaults = {"count": "10", "amount": "", "expires_at": "", "note": ""}
    return {name: field(form, name).strip() if form else defaults[name] for name in names}


async def _list_page(
    request: web.Request,
    visitor: SignedIn,
    *,
    values: dict[str, str] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    answer = await call(request, "GET", API + "?limit=100")
    refused(answer)
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The redemption codes cannot be read right now.")
    batches = [_batch(row) for row in answer.body.get("data", []) if isinstance(row, dict)]
    context = {
        **visitor.context(),
        "batches": batches,
        "values": values or _values(),
        "problem": problem,
        "now": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "admin_redemption_codes.html", context, status=status)


async def list_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    return await _list_page(request, visitor)


async def create(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    form = await form_of(request)
    values = _values(form)
    body: dict[str, Any] = {"amount": values["amount"]}
    try:
        body["count"] = int(values["count"])
    except ValueError:
        body["count"] = values["count"]
    if values["note"]:
        body["note"] = values["note"]
    if values["expires_at"]:
        try:
            ends = datetime.fromisoformat(values["expires_at"])
        except ValueError:
            problem = {"kind": "bad_time", "message": "", "details": []}
            return await _list_page(request, visitor, values=values, problem=problem, status=422)
        body["expires_at"] = ends.replace(tzinfo=ends.tzinfo or UTC).isoformat()
    answer = await call(request, "POST", API, json=body, csrf_token=field(form, "csrf_token"))
    refused(answer)
    if not answer.ok or not isinstance(answer.body, dict):
        status = answer.status if answer.status >= 400 else 502
        problem = problem_of(answer)
        return await _list_page(request, visitor, values=values, problem=problem, status=status)
    codes = [str(code) for code in answer.body.get("codes", [])]
    batch = answer.body.get("batch")
    context = {
        **visitor.context(),
        "batch": _batch(batch) if isinstance(batch, dict) else None,
        "codes": codes,
        "copy_each": len(codes) <= COPY_EACH,
    }
    return render(request, "admin_redemption_created.html", context, status=201)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PATH, list_page)
    router.add_post(PATH, create)
