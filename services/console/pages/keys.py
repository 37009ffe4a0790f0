"""The keys page: a person's API keys; creating, rotating and revoking one.

Everything comes from the API: `GET /api/keys` (a key's display prefix, never
its secret), `GET /api/usage/keys/{id}/spend` (what a key with a budget spent
in its period: shown with what is left), `GET /api/models` (the catalog a key
may be limited to, with each model's family), `POST /api/keys`,
`POST /api/keys/{id}/rotate` and `DELETE /api/keys/{id}`. Rules kept here:

- A secret is in one answer only: the page rendered from the create or rotate
  POST itself, never a redirect (which would carry it to a later GET or a
  URL); every page is `Cache-Control: no-store`. With it come the setup
  snippets (`setup_snippets`) for the clients of the families the key may use.
- Rotating and revoking each ask first on a page of their own, a plain form:
  both work without JavaScript, and neither happens on a stray click.
- A key's name, models, expiry and admission policy (limits, budget, IP
  allowlist) are shown on its card and edited on its own page
  (`keys_policy`).
- Times are shown in the visitor's time zone (`render.time_zone_of`), and
  say which. An expiry date is the last day the key works: it stops at the
  end of that day in that zone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from services.console import setup_snippets
from services.console.api_client import Answer, call
from services.console.app_keys import SETTINGS
from services.console.render import (
    SignedIn,
    field,
    form_of,
    problem_of,
    redirect,
    render,
    signed_in,
    time_zone_of,
)

FAMILY_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google Gemini"}


_UTC = ZoneInfo("UTC")


def zone_of(request: web.Request, visitor: SignedIn) -> ZoneInfo:
    return ZoneInfo(time_zone_of(request, visitor.me))


def _when(value: Any, zone: ZoneInfo = _UTC) -> str | None:
    """An API timestamp as the page shows it: `2026-12-05 13:02 UTC`,
    `2026-12-05 21:02 Asia/Shanghai`."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def usd(text: object) -> str:
    """A dollar amount as the API writes it ('5', '0.125', '1.230000000') with at
    least cents and no trailing zeros past them: '5.00', '0.125', '1.23' (never
    '0E-9', as `str` writes a zero of 9 places)."""
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        return str(text)
    if not amount.is_finite():
        return str(text)
    amount = amount.normalize()
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return f"{amount:.2f}"
    return f"{amount:f}"


def _shown(key: dict[str, Any], now: datetime, zone: ZoneInfo = _UTC) -> dict[str, Any]:
    expires = key.get("expires_at")
    expired = False
    if isinstance(expires, str):
        try:
            expired = datetime.fromisoformat(expires) <= now
        except ValueError:
            pass
    models = key.get("models")
    limits: dict[str, Any] = key["limits"] if isinstance(key.get("limits"), dict) else {}
    budget = key.get("budget") if isinstance(key.get("budget"), dict) else None
    allowlist = key.get("ip_allowlist")
    per_model = limits.get("models")
    if not isinstance(per_model, dict):
        per_model = {}
    return {
        "id": str(key.get("id", "")),
        "name": str(key.get("name", "")),
        "prefix": str(key.get("prefix", "")),
        "models": models if isinstance(models, list) else None,
        "created": _when(key.get("created_at"), zone),
        "last_used": _when(key.get("last_used_at"), zone),
        "expires": _when(expires, zone),
        "expired": expired,
        # Its admission policy (edited on `keys_policy`'s page): None is no restriction.
        "limits": {
            name: limits[name] if isinstance(limits.get(name), int) else None
            for name in ("rpm", "tpm", "concurrency")
        },
        # Per-model limits: (model, {rpm, tpm, concurrency}), by model name.
        "model_limits": [
            (str(model), {name: entry.get(name) for name in ("rpm", "tpm", "concurrency")})
            for model, entry in sorted(per_model.items())
            if isinstance(entry, dict)
        ],
        "budget": (
            {"usd": usd(budget.get("usd", "")), "period": str(budget.get("period", ""))}
            if budget
            else None
        ),
        "ip_allowlist": [str(n) for n in allowlist] if isinstance(allowlist, list) else None,
        # Stopped by billing's spend anomaly check until its owner resumes it (`keys_policy`).
        "suspended": isinstance(key.get("suspended_at"), str),
        "suspended_reason": str(key.get("suspended_reason") or ""),
    }


async def _keys(request: web.Request, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The visitor's keys, newest first."""
    answer = await call(request, "GET", "/api/keys")
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The keys cannot be read right now.")
    now = datetime.now(UTC)
    found = [_shown(key, now, zone) for key in answer.body.get("data", []) if isinstance(key, dict)]
    await asyncio.gather(*(_spend(request, key) for key in found if key["budget"]))
    return found[::-1]


async def _spend(request: web.Request, key: dict[str, Any]) -> None:
    """What a key with a budget spent in its period and what is left, on its card
    (from its usage records: a request of the last seconds may not be in yet);
    nothing shown when the usage service does not answer."""
    budget = key["budget"]
    answer = await call(
        request, "GET", f"/api/usage/keys/{key['id']}/spend?period={budget['period']}"
    )
    if not answer.ok or not isinstance(answer.body, dict):
        return
    try:
        spent = Decimal(str(answer.body["spent"]))
        left = max(Decimal(0), Decimal(str(budget["usd"])) - spent)
    except (KeyError, InvalidOperation):
        return
    budget["spent"], budget["left"] = usd(spent), usd(left)


async def model_catalog(request: web.Request) -> list[tuple[str, str]]:
    """(model, family) pairs of every model a key may be limited to; none when unreadable."""
    answer = await call(request, "GET", "/api/models")
    if not answer.ok or not isinstance(answer.body, dict):
        return []
    return [
        (str(entry["id"]), str(entry["family"]))
        for entry in answer.body.get("data", [])
        if isinstance(entry, dict) and "id" in entry and "family" in entry
    ]


def by_family(catalog: Sequence[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for model, family in catalog:
        groups.setdefault(family, []).append(model)
    return [(FAMILY_NAMES.get(family, family), models) for family, models in groups.items()]


async def keys_page(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    context = {
        **visitor.context(),
        "keys": await _keys(request, zone_of(request, visitor)),
        "revoked": request.query.get("revoked") == "1",
        "saved": request.query.get("saved") == "1",
        "resumed": request.query.get("resumed") == "1",
    }
    return render(request, "keys.html", context)


async def _form_page(
    request: web.Request,
    visitor: SignedIn,
    *,
    values: dict[str, Any] | None = None,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    zone = zone_of(request, visitor)
    today = datetime.now(zone).date()
    context = {
        **visitor.context(),
        "families": by_family(await model_catalog(request)),
        "values": values or {"name": "", "models": [], "expires": ""},
        "problem": problem,
        "earliest": today.isoformat(),
        "time_zone": zone.key,
    }
    return render(request, "keys_new.html", context, status=status)


async def new_key_page(request: web.Request) -> web.StreamResponse:
    return await _form_page(request, await signed_in(request))


def expiry_end(text: str, zone: ZoneInfo = _UTC) -> datetime:
    """The end of the chosen day in `zone` (`ValueError` for a date that is not one)."""
    chosen = date.fromisoformat(text)
    return datetime.combine(chosen, time(23, 59, 59), tzinfo=zone)


async def create(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    form = await form_of(request)
    values: dict[str, Any] = {
        "name": field(form, "name"),
        "models": [m for m in form.getall("models", []) if isinstance(m, str)][:500],
        "expires": field(form, "expires").strip(),
    }
    body: dict[str, Any] = {"name": values["name"]}
    if values["models"]:
        body["models"] = values["models"]
    if values["expires"]:
        try:
            body["expires_at"] = expiry_end(
                values["expires"], zone_of(request, visitor)
            ).isoformat()
        except ValueError:
            problem = {"kind": "bad_date", "message": "", "details": []}
            return await _form_page(request, visitor, values=values, problem=problem, status=422)
    answer = await call(
        request, "POST", "/api/keys", json=body, csrf_token=field(form, "csrf_token")
    )
    if not answer.ok:
        return await _form_page(
            request, visitor, values=values, problem=key_problem(answer), status=answer.status
        )
    return await _secret_page(request, visitor, answer, rotated=False)


def key_problem(answer: Answer) -> dict[str, Any]:
    problem = problem_of(answer)
    if answer.error_code == "email_not_verified":
        problem["kind"] = "email_not_verified"
    return problem


async def _secret_page(
    request: web.Request, visitor: SignedIn, answer: Answer, *, rotated: bool
) -> web.Response:
    """The one page that shows a secret: the answer to the create or rotate POST."""
    key = answer.body if isinstance(answer.body, dict) else {}
    secret = str(key.get("key", ""))
    reachable = await model_catalog(request)
    allowed = key.get("models")
    if isinstance(allowed, list):
        reachable = [(model, family) for model, family in reachable if model in allowed]
    public_url = request.app[SETTINGS].public_url
    context = {
        **visitor.context(),
        "key": _shown(key, datetime.now(UTC), zone_of(request, visitor)),
        "secret": secret,
        "rotated": rotated,
        "analytics_event": "" if rotated else "key_created",
        "snippets": setup_snippets.snippets(public_url, secret, reachable),
    }
    return render(request, "keys_created.html", context, status=201)


def key_id_of(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["key_id"]))
    except ValueError:
        raise web.HTTPNotFound() from None


async def confirm_page(request: web.Request) -> web.StreamResponse:
    """Are you sure? (rotate or revoke), naming the key."""
    visitor = await signed_in(request)
    key_id, action = key_id_of(request), request.match_info["action"]
    key = next(
        (k for k in await _keys(request, zone_of(request, visitor)) if k["id"] == key_id), None
    )
    if key is None:
        raise web.HTTPNotFound()
    context = {**visitor.context(), "key": key, "action": action}
    return render(request, "keys_confirm.html", context)


async def rotate(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    form = await form_of(request)
    key_id = key_id_of(request)
    answer = await call(
        request, "POST", f"/api/keys/{key_id}/rotate", csrf_token=field(form, "csrf_token")
    )
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok:
        return await _refused(request, visitor, key_id, "rotate", answer)
    return await _secret_page(request, visitor, answer, rotated=True)


async def revoke(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    form = await form_of(request)
    key_id = key_id_of(request)
    answer = await call(
        request, "DELETE", f"/api/keys/{key_id}", csrf_token=field(form, "csrf_token")
    )
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok:
        return await _refused(request, visitor, key_id, "revoke", answer)
    raise redirect("/keys?revoked=1")


async def _refused(
    request: web.Request, visitor: SignedIn, key_id: str, action: str, answer: Answer
) -> web.Response:
    """The confirmation page again, with the API's reason."""
    key = next(
        (k for k in await _keys(request, zone_of(request, visitor)) if k["id"] == key_id), None
    )
    if key is None:
        raise web.HTTPNotFound()
    context = {**visitor.context(), "key": key, "action": action, "problem": key_problem(answer)}
    return render(request, "keys_confirm.html", context, status=answer.status)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/keys", keys_page)
    router.add_get("/keys/new", new_key_page)
    router.add_post("/keys", create)
    router.add_get("/keys/{key_id}/{action:rotate|revoke}", confirm_page)
    router.add_post("/keys/{key_id}/rotate", rotate)
    router.add_post("/keys/{key_id}/revoke", revoke)
