"""Admin: channels (`/admin/channels`): the list with each channel's health,
adding and editing one, testing it, disabling and enabling it, removing it.

Everything goes through `/api/admin/channels` (the gateway's `channel_admin`).
Rules kept here:

- The upstream API key is write-only: no page ever shows it back. The form's
  key field is always empty; on an edit, leaving it empty keeps the stored
  key (the PATCH then carries no `api_key`). A refused form comes back with
  every other field as typed, and the key field empty again.
- Test: a plain form POST that answers a page with the result; with htmx the
  same POST answers only the result fragment, swapped in beside the button.
- Health is what the gateway process that answered has seen (breaker state,
  attempts, failures, last use, last error); see `channel_health`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from services.console.api_client import Answer, call
from services.console.pages.admin_shared import admin_visitor, refused, when
from services.console.render import SignedIn, field, form_of, problem_of, redirect, render

KINDS = ("openai", "anthropic", "gemini")
TIMEOUTS = ("connect_timeout_ms", "first_byte_timeout_ms", "idle_timeout_ms")
SAVED = ("created", "updated", "enabled", "disabled", "deleted")
_SPLIT = re.compile(r"[\s,]+")


def _channel_id(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["channel_id"]))
    except ValueError:
        raise web.HTTPNotFound() from None


def _shown(channel: dict[str, Any]) -> dict[str, Any]:
    health = channel.get("health") if isinstance(channel.get("health"), dict) else {}
    assert isinstance(health, dict)
    return {
        **channel,
        "models": [str(m) for m in channel.get("models") or []],
        "health": {
            "breaker": str(health.get("breaker", "")),
            "shut_off": bool(health.get("shut_off")),
            "cooling": bool(health.get("cooling")),
            "requests": health.get("requests", 0),
            "errors": health.get("errors", 0),
            "last_used": when(health.get("last_used_at")),
            "last_error": health.get("last_error"),
            "last_error_at": when(health.get("last_error_at")),
        },
    }


async def _channels(request: web.Request) -> list[dict[str, Any]]:
    answer = await call(request, "GET", "/api/admin/channels")
    refused(answer)
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The channels cannot be read right now.")
    return [_shown(c) for c in answer.body.get("data", []) if isinstance(c, dict)]


async def _channel(request: web.Request, channel_id: str) -> dict[str, Any]:
    answer = await call(request, "GET", f"/api/admin/channels/{channel_id}")
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The channel cannot be read right now.")
    return _shown(answer.body)


async def list_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    saved = request.query.get("saved", "")
    context = {
        **visitor.context(),
        "channels": await _channels(request),
        "saved": saved if saved in SAVED else "",
    }
    return render(request, "admin_channels.html", context)


# ---- the form ------------------------------------------------------------------


def _values_of(channel: dict[str, Any]) -> dict[str, Any]:
    """A stored channel as the form shows it (never a key: the API has none to give)."""
    model_map = channel.get("model_map") or {}
    return {
        "name": str(channel.get("name", "")),
        "kind": str(channel.get("kind", "openai")),
        "base_url": str(channel.get("base_url", "")),
        "models": "\n".join(channel.get("models") or []),
        "model_map": "\n".join(f"{k}={v}" for k, v in model_map.items()),
        "priority": str(channel.get("priority", 0)),
        "weight": str(channel.get("weight", 1)),
        "allow_private_network": bool(channel.get("allow_private_network")),
        **{name: "" if channel.get(name) is None else str(channel[name]) for name in TIMEOUTS},
    }


def _values_from(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form as typed, to show again (the key left out on purpose)."""
    return {
        "name": field(form, "name"),
        "kind": field(form, "kind"),
        "base_url": field(form, "base_url").strip(),
        "models": field(form, "models"),
        "model_map": field(form, "model_map"),
        "priority": field(form, "priority").strip(),
        "weight": field(form, "weight").strip(),
        "allow_private_network": field(form, "allow_private_network") == "on",
        **{name: field(form, name).strip() for name in TIMEOUTS},
    }


def _number(text: str) -> int | str:
    """An integer when the text is one; otherwise the text, for the API to refuse by name."""
    try:
        return int(text)
    except ValueError:
        return text


def _body(values: dict[str, Any], api_key: str, *, creating: bool) -> dict[str, Any]:
    model_map: dict[str, str] = {}
    for line in values["model_map"].splitlines():
        if "=" in line:
            name, _, upstream = line.partition("=")
            model_map[name.strip()] = upstream.strip()
        elif line.strip():
            model_map[line.strip()] = ""  # the API names the line's problem
    body: dict[str, Any] = {
        "name": values["name"],
        "kind": values["kind"],
        "base_url": values["base_url"],
        "models": [m for m in _SPLIT.split(values["models"]) if m],
        "allow_private_network": values["allow_private_network"],
    }
    if model_map or not creating:
        body["model_map"] = model_map
    for name in ("priority", "weight"):
        if values[name]:
            body[name] = _number(values[name])
    for name in TIMEOUTS:
        if values[name]:
            body[name] = _number(values[name])
        elif not creating:
            body[name] = None  # cleared: the gateway's default applies
    if api_key:
        body["api_key"] = api_key
    return body


def _form(
    request: web.Request,
    visitor: SignedIn,
    *,
    values: dict[str, Any],
    channel_id: str | None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        **visitor.context(),
        "values": values,
        "channel_id": channel_id,
        "kinds": KINDS,
        "timeouts": TIMEOUTS,
        "problem": problem,
    }
    return render(request, "admin_channel_form.html", context, status=status)


async def new_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    values = _values_of({"priority": 0, "weight": 1})
    return _form(request, visitor, values=values, channel_id=None)


async def create(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    form = await form_of(request)
    values = _values_from(form)
    body = _body(values, field(form, "api_key"), creating=True)
    answer = await call(
        request, "POST", "/api/admin/channels", json=body, csrf_token=field(form, "csrf_token")
    )
    if not answer.ok:
        return _refused_form(request, visitor, values, None, answer)
    raise redirect("/admin/channels?saved=created")


async def edit_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    channel_id = _channel_id(request)
    channel = await _channel(request, channel_id)
    return _form(request, visitor, values=_values_of(channel), channel_id=channel_id)


async def update(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    channel_id = _channel_id(request)
    form = await form_of(request)
    values = _values_from(form)
    body = _body(values, field(form, "api_key"), creating=False)
    answer = await call(
        request,
        "PATCH",
        f"/api/admin/channels/{channel_id}",
        json=body,
        csrf_token=field(form, "csrf_token"),
    )
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok:
        return _refused_form(request, visitor, values, channel_id, answer)
    raise redirect("/admin/channels?saved=updated")


def _refused_form(
    request: web.Request,
    visitor: SignedIn,
    values: dict[str, Any],
    channel_id: str | None,
    answer: Answer,
) -> web.Response:
    refused(answer)
    return _form(
        request,
        visitor,
        values=values,
        channel_id=channel_id,
        problem=problem_of(answer),
        status=answer.status if answer.status >= 400 else 502,
    )


# ---- actions on one channel ------------------------------------------------------


async def switch(request: web.Request) -> web.StreamResponse:
    """Disable or enable (`enabled` = "true" or "false")."""
    await admin_visitor(request)
    channel_id = _channel_id(request)
    form = await form_of(request)
    enabled = field(form, "enabled") == "true"
    answer = await call(
        request,
        "PATCH",
        f"/api/admin/channels/{channel_id}",
        json={"enabled": enabled},
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok:
        raise web.HTTPBadGateway(text="The channel cannot be changed right now.")
    raise redirect(f"/admin/channels?saved={'enabled' if enabled else 'disabled'}")


def _result(answer: Answer) -> dict[str, Any]:
    body = answer.body if isinstance(answer.body, dict) else {}
    if not answer.ok:
        problem = problem_of(answer)
        return {
            "ok": False,
            "status": None,
            "latency_ms": None,
            "model": "",
            "error": problem["message"] or "",
            "reenabled": False,
        }
    return {
        "ok": bool(body.get("ok")),
        "status": body.get("status"),
        "latency_ms": body.get("latency_ms"),
        "model": str(body.get("model", "")),
        "error": body.get("error") or "",
        "reenabled": bool(body.get("reenabled")),
    }


async def test(request: web.Request) -> web.StreamResponse:
    """Send the channel one tiny request; the result as a fragment (htmx) or a page."""
    visitor = await admin_visitor(request)
    channel_id = _channel_id(request)
    form = await form_of(request)
    answer = await call(
        request,
        "POST",
        f"/api/admin/channels/{channel_id}/test",
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    context = {**visitor.context(), "result": _result(answer), "channel_id": channel_id}
    if request.headers.get("HX-Request") == "true":
        return render(request, "admin_channel_test.html", context)
    context["channel"] = await _channel(request, channel_id)
    return render(request, "admin_channel_tested.html", context)


async def delete_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    channel = await _channel(request, _channel_id(request))
    return render(request, "admin_channel_delete.html", {**visitor.context(), "channel": channel})


async def delete(request: web.Request) -> web.StreamResponse:
    await admin_visitor(request)
    channel_id = _channel_id(request)
    form = await form_of(request)
    answer = await call(
        request,
        "DELETE",
        f"/api/admin/channels/{channel_id}",
        csrf_token=field(form, "csrf_token"),
    )
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok:
        raise web.HTTPBadGateway(text="The channel cannot be removed right now.")
    raise redirect("/admin/channels?saved=deleted")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/channels", list_page)
    router.add_get("/admin/channels/new", new_page)
    router.add_post("/admin/channels", create)
    router.add_get("/admin/channels/{channel_id}", edit_page)
    router.add_post("/admin/channels/{channel_id}", update)
    router.add_post("/admin/channels/{channel_id}/enabled", switch)
    router.add_post("/admin/channels/{channel_id}/test", test)
    router.add_get("/admin/channels/{channel_id}/delete", delete_page)
    router.add_post("/admin/channels/{channel_id}/delete", delete)
