"""Admin: users (`/admin/users`): find an account by email, username or id,
see it, and act on it: its group and own limits, its role, suspending it
with a reason and lifting that, and crediting its balance.

From auth's `GET /api/admin/users?q=` (paginated) and `GET|PATCH
/api/admin/users/{id}`, billing's `POST /api/admin/credits`,
`GET /api/admin/balances/{id}` (balance, held, available, as the account reads
them) and `GET /api/admin/orders?user_id=` (the account's recent top-ups), and
usage's `GET /api/admin/usage?user_id=` (its latest calls, in the admin's time
zone; keys by id, as the admin cannot list another account's keys). Rules kept:

- What cannot be taken back lightly asks first on a page of its own, a plain
  form as keys' revoke does: suspending (every key and session of the account
  stops at once), changing the role, crediting. The group, the account's own
  limits and lifting a suspension are saved at once: each is undone by the
  same form.
- A credit's confirmation page carries a fresh idempotency key, so the form
  sent twice (a double click, the back button) credits once.
- The API checks every value; its refusals are shown next to their fields
  (`field_problems`), and a refused action is shown on the user's page.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy

from services.console.api_client import Answer, call
from services.console.field_problems import sort_problems
from services.console.pages.admin_shared import admin_visitor, refused, when
from services.console.pages.usage import local_time
from services.console.render import (
    SignedIn,
    field,
    form_of,
    problem_of,
    redirect,
    render,
    time_zone_of,
)

PATH = "/admin/users"
API = "/api/admin/users"
PAGE = 25
RECENT_CALLS = 20
ROLES = ("user", "admin")
LIMITS = ("rpm", "tpm", "concurrency")
ASKED = ("suspend", "role", "credit")  # actions that ask first
SAVED = ("group", "limits", "lifted", "suspended", "role", "credited")
FIELDS = {
    "group": "group",
    "role": "role",
    "suspended": "reason",
    "suspended.reason": "reason",
    "amount": "amount",
    "reason": "reason",
    "credit_reason": "credit_reason",
    **{name: name for name in LIMITS},
}


def _user_id(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["user_id"]))
    except ValueError:
        raise web.HTTPNotFound() from None


def _shown(user: dict[str, Any]) -> dict[str, Any]:
    suspended = user.get("suspended")
    reason = user.get("suspended_reason")
    since = user.get("suspended_at")
    if isinstance(suspended, dict):  # {reason, at} rather than a flag
        reason, since = suspended.get("reason"), suspended.get("at", since)
    limits: dict[str, Any] = user["limits"] if isinstance(user.get("limits"), dict) else user
    return {
        "id": str(user.get("id", "")),
        "email": str(user.get("email") or ""),
        "username": str(user.get("username") or ""),
        "display_name": str(user.get("display_name") or ""),
        "role": str(user.get("role", "")),
        "group": str(user.get("group", "")),
        "suspended": bool(suspended) or since is not None,
        "suspended_reason": str(reason or ""),
        "suspended_at": when(since),
        "created": when(user.get("created_at")),
        "email_verified": user.get("email_verified"),
        **{n: limits.get(n) if isinstance(limits.get(n), int) else None for n in LIMITS},
    }


async def search_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    q = request.query.get("q", "").strip()[:200]
    cursor = request.query.get("cursor", "")[:200]
    query = {"q": q, "limit": str(PAGE), "cursor": cursor}
    answer = await call(request, "GET", f"{API}?{urlencode({k: v for k, v in query.items() if v})}")
    refused(answer)
    rows: list[dict[str, Any]] | None = None
    problem = None
    older = None
    if answer.ok and isinstance(answer.body, dict):
        rows = [_shown(u) for u in answer.body.get("data", []) if isinstance(u, dict)]
        following = answer.body.get("next_cursor")
        if isinstance(following, str) and following:
            older = (
                f"{PATH}?{urlencode({'q': q, 'cursor': following} if q else {'cursor': following})}"
            )
    elif answer.status == 422:
        problem = problem_of(answer)
    context = {
        **visitor.context(),
        "q": q,
        "rows": rows,
        "problem": problem,
        "more": older,
        "first": f"{PATH}?{urlencode({'q': q})}" if cursor else None,
    }
    return render(request, "admin_users.html", context, status=200 if problem is None else 422)


async def _user(request: web.Request, user_id: str) -> dict[str, Any]:
    answer = await call(request, "GET", f"{API}/{user_id}")
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The account cannot be read right now.")
    return answer.body


async def _group_names(request: web.Request) -> list[str]:
    answer = await call(request, "GET", "/api/admin/groups")
    if not answer.ok or not isinstance(answer.body, dict):
        return []
    return [str(g.get("name")) for g in answer.body.get("data", []) if isinstance(g, dict)]


async def _top_ups(request: web.Request, user_id: str) -> list[dict[str, Any]] | None:
    """The account's five latest orders (billing's admin list); None when unreadable."""
    answer = await call(
        request, "GET", f"/api/admin/orders?{urlencode({'user_id': user_id, 'limit': 5})}"
    )
    if not answer.ok or not isinstance(answer.body, dict):
        return None
    return [
        {
            "id": str(o.get("id", "")),
            "created": when(o.get("created_at")),
            "status": str(o.get("status", "")),
            "amount": str(o.get("amount", "")),
            "currency": str(o.get("currency", "")),
        }
        for o in answer.body.get("data", [])
        if isinstance(o, dict)
    ]


async def _balance(request: web.Request, user_id: str) -> dict[str, str] | None:
    """The account's balance, held and available (billing's admin read); None when unreadable."""
    answer = await call(request, "GET", f"/api/admin/balances/{user_id}")
    if not answer.ok or not isinstance(answer.body, dict):
        return None
    names = ("balance", "held", "available", "currency")
    return {n: str(answer.body.get(n, ""))[:40] for n in names}


async def _calls(request: web.Request, user_id: str, zone: ZoneInfo) -> list[dict[str, Any]] | None:
    """The account's latest calls, newest first (usage's admin read); None when unreadable."""
    query = urlencode({"user_id": user_id, "limit": RECENT_CALLS})
    answer = await call(request, "GET", f"/api/admin/usage?{query}")
    if not answer.ok or not isinstance(answer.body, dict):
        return None
    return [
        {
            "time": local_time(str(r.get("occurred_at", "")), zone),
            "model": str(r.get("model", "")),
            "key_id": str(r["key_id"]) if r.get("key_id") else "",
            "status": str(r.get("status", "")),
            "http_status": r.get("http_status"),
            "input_tokens": r.get("input_tokens"),
            "output_tokens": r.get("output_tokens"),
            "cost": r.get("cost"),
        }
        for r in answer.body.get("data", [])
        if isinstance(r, dict)
    ]


async def _user_page(
    request: web.Request,
    visitor: SignedIn,
    user_id: str,
    *,
    values: dict[str, str] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    user = _shown(await _user(request, user_id))
    errors: dict[str, list[str]] = {}
    if problem is not None:
        sorted_ = sort_problems(problem["details"], FIELDS)
        problem, errors = {**problem, "details": sorted_.rest}, sorted_.by_field
    saved = request.query.get("saved", "")
    zone_name = time_zone_of(request, visitor.me)
    context = {
        **visitor.context(),
        "user": user,
        "balance_now": await _balance(request, user_id),
        "calls": await _calls(request, user_id, ZoneInfo(zone_name)),
        "time_zone": zone_name,
        "recent_calls": RECENT_CALLS,
        "groups": await _group_names(request),
        "roles": ROLES,
        "top_ups": await _top_ups(request, user_id),
        "values": {
            **{n: "" if user[n] is None else str(user[n]) for n in LIMITS},
            "reason": "",
            "amount": "",
            "credit_reason": "",
            **(values or {}),
        },
        "problem": problem,
        "errors": errors,
        "saved": saved if saved in SAVED else "",
        "balance": request.query.get("balance", "")[:40] if saved == "credited" else "",
    }
    return render(request, "admin_user.html", context, status=status)


async def user_page(request: web.Request) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    return await _user_page(request, visitor, _user_id(request))


def _limit(text: str) -> int | str | None:
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 12 else text


def _patch_of(action: str, form: MultiDictProxy[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The PATCH body and the form's values for an action of the user's page."""
    if action == "group":
        values = {"group": field(form, "group").strip()}
        return {"group": values["group"]}, values
    if action == "limits":
        values = {n: field(form, n).strip() for n in LIMITS}
        return {n: _limit(values[n]) for n in LIMITS}, values
    if action == "lift":
        return {"suspended": None}, {}
    if action == "suspend":
        values = {"reason": field(form, "reason").strip()}
        return {"suspended": {"reason": values["reason"]}}, values
    if action == "role":
        values = {"role": field(form, "role")}
        return {"role": values["role"]}, values
    raise web.HTTPNotFound()


async def _patch(request: web.Request, action: str) -> web.StreamResponse:
    visitor = await admin_visitor(request)
    user_id = _user_id(request)
    form = await form_of(request)
    body, values = _patch_of(action, form)
    answer = await call(
        request, "PATCH", f"{API}/{user_id}", json=body, csrf_token=field(form, "csrf_token")
    )
    return await _answered(request, visitor, user_id, answer, values, action)


async def _answered(
    request: web.Request,
    visitor: SignedIn,
    user_id: str,
    answer: Answer,
    values: dict[str, str],
    action: str,
) -> web.StreamResponse:
    refused(answer)
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok:
        status = answer.status if answer.status >= 400 else 502
        return await _user_page(
            request, visitor, user_id, values=values, problem=problem_of(answer), status=status
        )
    saved = {"lift": "lifted", "suspend": "suspended"}.get(action, action)
    raise redirect(f"{PATH}/{user_id}?saved={saved}")


async def save(request: web.Request) -> web.StreamResponse:
    """The forms saved at once: group, limits, lifting a suspension."""
    action = request.match_info["action"]
    return await _patch(request, action)


def _asked_values(action: str, source: Any) -> dict[str, str]:
    names = {"suspend": ("reason",), "role": ("role",), "credit": ("amount", "credit_reason")}
    return {n: str(source.get(n, ""))[:600].strip() for n in names[action]}


async def confirm_page(request: web.Request) -> web.StreamResponse:
    """The page that asks first: what will happen to whom."""
    visitor = await admin_visitor(request)
    user_id = _user_id(request)
    action = request.match_info["action"]
    values = _asked_values(action, request.query)
    missing = {"suspend": "reason", "credit": "amount"}.get(action)
    if missing and not values[missing]:
        problem = {"kind": f"no_{missing}", "message": "", "details": []}
        return await _user_page(
            request, visitor, user_id, values=values, problem=problem, status=422
        )
    if action == "role" and values["role"] not in ROLES:
        raise web.HTTPNotFound()
    if action == "credit" and not values["credit_reason"]:
        problem = {"kind": "no_credit_reason", "message": "", "details": []}
        return await _user_page(
            request, visitor, user_id, values=values, problem=problem, status=422
        )
    user = _shown(await _user(request, user_id))
    context = {
        **visitor.context(),
        "user": user,
        "action": action,
        "values": values,
        "idempotency_key": secrets.token_urlsafe(18),
    }
    return render(request, "admin_user_confirm.html", context)


async def confirmed(request: web.Request) -> web.StreamResponse:
    action = request.match_info["action"]
    if action != "credit":
        return await _patch(request, action)
    visitor = await admin_visitor(request)
    user_id = _user_id(request)
    form = await form_of(request)
    values = {
        "amount": field(form, "amount").strip(),
        "credit_reason": field(form, "credit_reason"),
    }
    body = {
        "user_id": user_id,
        "amount": values["amount"],
        "reason": values["credit_reason"].strip(),
        "idempotency_key": field(form, "idempotency_key"),
    }
    answer = await call(
        request, "POST", "/api/admin/credits", json=body, csrf_token=field(form, "csrf_token")
    )
    refused(answer)
    if answer.ok and isinstance(answer.body, dict):
        balance = str(answer.body.get("balance", ""))[:40]
        raise redirect(f"{PATH}/{user_id}?{urlencode({'saved': 'credited', 'balance': balance})}")
    if answer.status == 404:
        raise web.HTTPNotFound()
    status = answer.status if answer.status >= 400 else 502
    problem = problem_of(answer)
    problem["details"] = [d.replace("reason:", "credit_reason:", 1) for d in problem["details"]]
    return await _user_page(
        request, visitor, user_id, values=values, problem=problem, status=status
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PATH, search_page)
    router.add_get(PATH + "/{user_id}", user_page)
    router.add_post(PATH + "/{user_id}/{action:group|limits|lift}", save)
    router.add_get(PATH + "/{user_id}/{action:suspend|role|credit}", confirm_page)
    router.add_post(PATH + "/{user_id}/{action:suspend|role|credit}", confirmed)
