"""Admin: model aliases (`/admin/aliases`): the names clients may use for a model.

From the gateway's `GET /api/admin/model-aliases`, `PUT` and `DELETE
/api/admin/model-aliases/{alias}`. Adding an alias that exists replaces the
model it stands for; the API's rules (an alias resolves once, names follow the
model-name rule) come back on the form as its refusal. Removing is a plain
form per row.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.console.api_client import call
from services.console.pages.admin_shared import admin_visitor, refused
from services.console.render import SignedIn, field, form_of, problem_of, redirect, render

SAVED = ("added", "replaced", "deleted")


def _api_path(alias: str) -> str:
    return "/api/admin/model-aliases/" + quote(alias, safe="")


async def _page(
    request: web.Request,
    visitor: SignedIn,
    *,
    values: dict[str, str] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    answer = await call(request, "GET", "/api/admin/model-aliases")
    refused(answer)
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The aliases cannot be read right now.")
    aliases = sorted(
        (
            {"alias": str(row.get("alias", "")), "model": str(row.get("model", ""))}
            for row in answer.body.get("data", [])
            if isinstance(row, dict)
        ),
        key=lambda row: row["alias"],
    )
    catalog = await call(request, "GET", "/api/models")
    models = (
        sorted({str(m.get("id")) for m in catalog.body.get("data", []) if isinstance(m, dict)})
        if catalog.ok and isinstance(catalog.body, dict)
        else []
    )
    saved = request.query.get("saved", "")
    context = {
        **visitor.context(),
        "aliases": aliases,
        "models": [m for m in models if m not in {a["alias"] for a in aliases}],
        "values": values or {"alias": "", "model": ""},
        "problem": problem,
        "saved": saved if saved in SAVED else "",
    }
    return render(request, "admin_aliases.html", context, status=status)


async def list_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, await admin_visitor(request))


async def put(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    form = await form_of(request)
    values = {"alias": field(form, "alias").strip(), "model": field(form, "model").strip()}
    if not values["alias"]:
        problem = {"kind": "no_alias", "message": "", "details": []}
        return await _page(request, visitor, values=values, problem=problem, status=422)
    answer = await call(
        request,
        "PUT",
        _api_path(values["alias"]),
        json={"model": values["model"]},
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if not answer.ok:
        status = answer.status if answer.status >= 400 else 502
        return await _page(
            request, visitor, values=values, problem=problem_of(answer), status=status
        )
    raise redirect(f"/admin/aliases?saved={'added' if answer.status == 201 else 'replaced'}")


async def delete(request: web.Request) -> web.StreamResponse:
    await admin_visitor(request)
    form = await form_of(request)
    answer = await call(
        request,
        "DELETE",
        _api_path(request.match_info["alias"]),
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if answer.status in (404, 422):
        raise web.HTTPNotFound()
    if not answer.ok:
        raise web.HTTPBadGateway(text="The alias cannot be removed right now.")
    raise redirect("/admin/aliases?saved=deleted")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/aliases", list_page)
    router.add_post("/admin/aliases", put)
    router.add_post("/admin/aliases/{alias:.+}/delete", delete)
