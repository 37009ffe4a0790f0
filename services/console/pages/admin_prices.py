"""Admin: prices (`/admin/prices`): every model's current price, a model's
versions, and adding a version.

From billing's `GET /api/admin/prices`, `GET|PUT /api/admin/prices/{model}`.
A version is never edited: a new one is added, in force from now or from a
later time (the API refuses a past one). Rates are USD per million tokens
(web search: per thousand searches), as decimal strings; the page sends them
as typed and shows the API's refusal on the form. The time field is read as
UTC and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from services.console.api_client import call
from services.console.pages.admin_shared import admin_visitor, refused, when
from services.console.render import SignedIn, field, form_of, problem_of, redirect, render

RATES = ("input", "output", "cache_read", "cache_write", "web_search")


def _path(model: str) -> str:
    return "/admin/prices/" + quote(model, safe="/:@+")


def _version(price: Any) -> dict[str, Any] | None:
    if not isinstance(price, dict):
        return None
    return {**price, "since": when(price.get("effective_from"))}


async def list_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    answer = await call(request, "GET", "/api/admin/prices")
    refused(answer)
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The prices cannot be read right now.")
    models = [
        {
            "model": str(row.get("model", "")),
            "path": _path(str(row.get("model", ""))),
            "current": _version(row.get("current")),
            "next": _version(row.get("next")),
        }
        for row in answer.body.get("data", [])
        if isinstance(row, dict)
    ]
    return render(request, "admin_prices.html", {**visitor.context(), "models": models})


def _values(form: MultiDictProxy[Any] | None = None) -> dict[str, str]:
    names = (*RATES, "max_output_tokens", "effective_from")
    return {name: field(form, name).strip() if form else "" for name in names}


def _body(values: dict[str, str]) -> tuple[dict[str, Any], bool]:
    """The PUT body, and whether the time field held a time."""
    body: dict[str, Any] = {name: values[name] for name in RATES if values[name]}
    if values["max_output_tokens"]:
        try:
            body["max_output_tokens"] = int(values["max_output_tokens"])
        except ValueError:
            body["max_output_tokens"] = values["max_output_tokens"]
    if values["effective_from"]:
        try:
            start = datetime.fromisoformat(values["effective_from"])
        except ValueError:
            return body, False
        body["effective_from"] = start.replace(tzinfo=start.tzinfo or UTC).isoformat()
    return body, True


async def _model_page(
    request: web.Request,
    visitor: SignedIn,
    model: str,
    *,
    values: dict[str, str] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    answer = await call(request, "GET", "/api/admin/prices/" + quote(model, safe="/:@+"))
    refused(answer)
    if answer.status == 422:
        raise web.HTTPNotFound()
    body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    if not answer.ok and answer.status != 404:
        raise web.HTTPBadGateway(text="The prices cannot be read right now.")
    context = {
        **visitor.context(),
        "model": model,
        "action": _path(model),
        "current": _version(body.get("current")),
        "history": [v for v in map(_version, body.get("history", [])) if v],
        "values": values or _values(),
        "problem": problem,
        "saved": request.query.get("saved") == "1",
        "now": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "admin_price.html", context, status=status)


async def model_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    return await _model_page(request, visitor, request.match_info["model"])


async def _put(request: web.Request, model: str, on_refusal: str) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    form = await form_of(request)
    values = _values(form)
    body, good_time = _body(values)
    if not good_time:
        problem = {"kind": "bad_time", "message": "", "details": []}
        return await _refusal(request, visitor, model, on_refusal, values, problem, 422)
    answer = await call(
        request,
        "PUT",
        "/api/admin/prices/" + quote(model, safe="/:@+"),
        json=body,
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if not answer.ok:
        status = answer.status if answer.status >= 400 else 502
        return await _refusal(
            request, visitor, model, on_refusal, values, problem_of(answer), status
        )
    raise redirect(_path(model) + "?saved=1")


async def _refusal(
    request: web.Request,
    visitor: SignedIn,
    model: str,
    on_refusal: str,
    values: dict[str, str],
    problem: dict[str, Any],
    status: int,
) -> web.Response:
    if on_refusal == "new":
        context = {**visitor.context(), "model": model, "values": values, "problem": problem}
        return render(request, "admin_price_new.html", context, status=status)
    return await _model_page(request, visitor, model, values=values, problem=problem, status=status)


async def add_version(request: web.Request) -> web.StreamResponse:
    return await _put(request, request.match_info["model"], "model")


async def new_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    context = {**visitor.context(), "model": "", "values": _values(), "problem": None}
    return render(request, "admin_price_new.html", context)


async def add_model(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    model = field(form, "model").strip()
    if not model:
        visitor = await admin_visitor(request)
        problem = {"kind": "no_model", "message": "", "details": []}
        context = {**visitor.context(), "model": "", "values": _values(form), "problem": problem}
        return render(request, "admin_price_new.html", context, status=422)
    return await _put(request, model, "new")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/prices", list_page)
    router.add_get("/admin/prices/new", new_page)
    router.add_post("/admin/prices", add_model)
    router.add_get("/admin/prices/{model:.+}", model_page)
    router.add_post("/admin/prices/{model:.+}", add_version)
