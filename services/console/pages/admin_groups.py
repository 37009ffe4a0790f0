"""Admin: groups (`/admin/groups`): the tiers an operator sells. Each has a
price multiplier (applied to the hold and the charge) and default limits for
its members (requests and tokens per minute, requests at once; a member's own
limits replace them field by field).

From auth's `GET /api/admin/groups`, `GET|PUT|DELETE /api/admin/groups/{name}`.
Rules kept here:

- Adding a group never replaces one: the add form first asks whether the name
  is taken (the API's PUT would overwrite), and says so if it is. Editing is
  the group's own page.
- The API checks every value; its refusals are shown next to their fields
  (`field_problems`). A multiplier is sent as typed (a decimal string); a
  limit that is not a whole number too, so the API's words say what is wrong.
- Deleting asks first on a page of its own; the API refuses `default` and a
  group with members (409), and that page then shows the API's reason.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from services.console.api_client import call
from services.console.field_problems import sort_problems
from services.console.pages.admin_shared import admin_visitor, refused, when
from services.console.render import SignedIn, field, form_of, problem_of, redirect, render

PATH = "/admin/groups"
API = "/api/admin/groups"
LIMITS = ("rpm", "tpm", "concurrency")
SAVED = ("added", "updated", "deleted")
FIELDS = {"name": "name", **{name: name for name in ("price_multiplier", "note", *LIMITS)}}
# A group name as the API accepts it; anything else is no group's page.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def _api_path(name: str) -> str:
    return f"{API}/{quote(name, safe='')}"


def _name_of(request: web.Request) -> str:
    name = request.match_info["name"]
    if not _NAME.fullmatch(name):
        raise web.HTTPNotFound()
    return name


def _shown(group: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(group.get("name", "")),
        "price_multiplier": str(group.get("price_multiplier", "")),
        **{n: group.get(n) if isinstance(group.get(n), int) else None for n in LIMITS},
        "note": str(group.get("note") or ""),
        "members": group.get("members") if isinstance(group.get("members"), int) else None,
        "updated": when(group.get("updated_at")),
    }


def _values_of(group: dict[str, Any]) -> dict[str, str]:
    shown = _shown(group)
    return {
        "name": shown["name"],
        "price_multiplier": shown["price_multiplier"],
        **{n: "" if shown[n] is None else str(shown[n]) for n in LIMITS},
        "note": shown["note"],
    }


def _values_from(form: MultiDictProxy[Any]) -> dict[str, str]:
    return {
        "name": field(form, "name").strip(),
        "price_multiplier": field(form, "price_multiplier").strip(),
        **{n: field(form, n).strip() for n in LIMITS},
        "note": field(form, "note").strip(),
    }


def _limit(text: str) -> int | str | None:
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 12 else text


def body_of(values: dict[str, str]) -> dict[str, Any]:
    """The PUT body for the form's values: empty limits and note are none."""
    return {
        "price_multiplier": values["price_multiplier"] or "1",
        **{n: _limit(values[n]) for n in LIMITS},
        "note": values["note"] or None,
    }


def _with_fields(problem: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The page's problem without the details shown by their fields, and those."""
    if problem is None:
        return None, {}
    sorted_ = sort_problems(problem["details"], FIELDS)
    return {**problem, "details": sorted_.rest}, sorted_.by_field


async def _groups(request: web.Request) -> list[dict[str, Any]]:
    answer = await call(request, "GET", API)
    refused(answer)
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The groups cannot be read right now.")
    return [_shown(g) for g in answer.body.get("data", []) if isinstance(g, dict)]


async def _list(
    request: web.Request,
    visitor: SignedIn,
    *,
    values: dict[str, str] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    saved = request.query.get("saved", "")
    problem, errors = _with_fields(problem)
    context = {
        **visitor.context(),
        "groups": await _groups(request),
        "values": values
        or {"name": "", "price_multiplier": "1", "note": "", **dict.fromkeys(LIMITS, "")},
        "problem": problem,
        "errors": errors,
        "saved": saved if saved in SAVED else "",
        "named": request.query.get("group", "")
        if _NAME.fullmatch(request.query.get("group", ""))
        else "",
    }
    return render(request, "admin_groups.html", context, status=status)


async def list_page(request: web.Request) -> web.StreamResponse:
    return await _list(request, await admin_visitor(request))


async def add(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    form = await form_of(request)
    values = _values_from(form)
    if not _NAME.fullmatch(values["name"]):
        problem = {"kind": "bad_name", "message": "", "details": []}
        return await _list(request, visitor, values=values, problem=problem, status=422)
    existing = await call(request, "GET", _api_path(values["name"]))
    refused(existing)
    if existing.ok:
        problem = {"kind": "exists", "message": "", "details": []}
        return await _list(request, visitor, values=values, problem=problem, status=409)
    answer = await call(
        request,
        "PUT",
        _api_path(values["name"]),
        json=body_of(values),
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if not answer.ok:
        status = answer.status if answer.status >= 400 else 502
        return await _list(
            request, visitor, values=values, problem=problem_of(answer), status=status
        )
    raise redirect(f"{PATH}?{_saved('added', values['name'])}")


def _saved(what: str, name: str) -> str:
    return f"saved={what}&group={quote(name, safe='')}"


async def _group(request: web.Request, name: str) -> dict[str, Any]:
    answer = await call(request, "GET", _api_path(name))
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The group cannot be read right now.")
    return answer.body


async def _group_page(
    request: web.Request,
    visitor: SignedIn,
    group: dict[str, Any],
    *,
    values: dict[str, str] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    problem, errors = _with_fields(problem)
    context = {
        **visitor.context(),
        "group": _shown(group),
        "values": values or _values_of(group),
        "problem": problem,
        "errors": errors,
    }
    return render(request, "admin_group.html", context, status=status)


async def group_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    return await _group_page(request, visitor, await _group(request, _name_of(request)))


async def update(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    name = _name_of(request)
    form = await form_of(request)
    values = {**_values_from(form), "name": name}
    group = await _group(request, name)
    answer = await call(
        request, "PUT", _api_path(name), json=body_of(values), csrf_token=field(form, "csrf_token")
    )
    refused(answer)
    if not answer.ok:
        status = answer.status if answer.status >= 400 else 502
        return await _group_page(
            request, visitor, group, values=values, problem=problem_of(answer), status=status
        )
    raise redirect(f"{PATH}?{_saved('updated', name)}")


async def delete_page(request: web.Request) -> web.StreamResponse:
    """Delete the group? It names the group and what deleting means."""
    visitor = await admin_visitor(request)
    group = _shown(await _group(request, _name_of(request)))
    return render(request, "admin_group_delete.html", {**visitor.context(), "group": group})


async def delete(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    name = _name_of(request)
    form = await form_of(request)
    answer = await call(request, "DELETE", _api_path(name), csrf_token=field(form, "csrf_token"))
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if answer.ok:
        raise redirect(f"{PATH}?{_saved('deleted', name)}")
    group = _shown(await _group(request, name))
    context = {**visitor.context(), "group": group, "problem": problem_of(answer)}
    return render(request, "admin_group_delete.html", context, status=answer.status)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PATH, list_page)
    router.add_post(PATH, add)
    router.add_get(PATH + "/{name}", group_page)
    router.add_post(PATH + "/{name}", update)
    router.add_get(PATH + "/{name}/delete", delete_page)
    router.add_post(PATH + "/{name}/delete", delete)
