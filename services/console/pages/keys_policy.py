"""A key's settings (`/keys/{id}/edit`): its name, models and expiry, and its
admission policy: limits (requests and tokens per minute, requests at once;
the key's own and per model), a spend budget per day, month or in total, and an IP allowlist.

One form, one `PATCH /api/keys/{id}` (auth's `key_handlers`), which checks
everything: the console only reads the form into the API's shape and shows
each refusal next to the field it is about (`field_problems`). Rules kept:

- An empty field means "no restriction": no models ticked is every model, an
  empty limit is none at key level, an empty budget is no budget, an empty
  allowlist is any address. So the form always sends the whole policy, and
  what the page shows after saving is what the key has.
- A limit that is not a whole number is sent as typed, so the API's own
  words say what is wrong with it (one rule, in one place).
- Per-model limits are a small table: a model picked from the catalog (an
  alias or a model) and its three limits a row, the key's rows and a few
  empty ones (`MODEL_ROWS` in all, at most the API's 20); a row with no model
  is dropped, and the form sends the whole table (the API replaces it).
- The allowlist is one CIDR network per line (a bare address is one host);
  blank lines are dropped.
- Saving goes back to `/keys` (post, redirect, get), where the card shows the
  key's policy as the API now returns it.
- A key that billing's spend anomaly check suspended says so on its card,
  with the reason and a button that resumes it (`POST /api/keys/{id}/resume`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy

from services.console.api_client import call
from services.console.field_problems import sort_problems
from services.console.pages.keys import (
    by_family,
    expiry_end,
    key_id_of,
    key_problem,
    model_catalog,
    usd,
    zone_of,
)
from services.console.render import SignedIn, field, form_of, redirect, render, signed_in

PERIODS = ("day", "month", "total")
LIMITS = ("rpm", "tpm", "concurrency")
# The API's field names (in its problems) to the form's.
FIELDS = {
    "name": "name",
    "models": "models",
    "expires_at": "expires",
    "ip_allowlist": "ip_allowlist",
    "budget": "budget_usd",
    "budget.usd": "budget_usd",
    "budget.period": "budget_period",
    "limits": "rpm",
    "limits.rpm": "rpm",
    "limits.tpm": "tpm",
    "limits.concurrency": "concurrency",
}
MAX_LINES = 200
MODEL_ROWS_MAX = 20  # the API's most
EMPTY_MODEL_ROWS = 3
_LINES = re.compile(r"[\r\n]+")
_ITEM = re.compile(r"item (\d+)\b(?: \([^)]*\))?")


def _values_of(key: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The form's fields filled in from the key as `GET /api/keys` returns it."""
    expires = ""
    if isinstance(key.get("expires_at"), str):
        try:
            expires = datetime.fromisoformat(key["expires_at"]).astimezone(zone).date().isoformat()
        except ValueError:
            expires = ""
    budget = key.get("budget") if isinstance(key.get("budget"), dict) else None
    limits: dict[str, Any] = key["limits"] if isinstance(key.get("limits"), dict) else {}
    allowlist = key.get("ip_allowlist")
    models = key.get("models")
    return {
        "name": str(key.get("name", "")),
        "models": [str(m) for m in models] if isinstance(models, list) else [],
        "expires": expires,
        "ip_allowlist": "\n".join(map(str, allowlist)) if isinstance(allowlist, list) else "",
        "budget_usd": usd(budget.get("usd", "")) if budget else "",
        "budget_period": str(budget.get("period", "day")) if budget else "day",
        **{name: "" if limits.get(name) is None else str(limits[name]) for name in LIMITS},
        "model_limits": _model_rows_of(limits.get("models")),
    }


def _model_rows_of(table: Any) -> list[dict[str, str]]:
    """The key's per-model limits as the form's rows (text, "" for none)."""
    rows: list[dict[str, str]] = []
    for model, entry in sorted(table.items()) if isinstance(table, dict) else []:
        if isinstance(entry, dict):
            rows.append(
                {"model": str(model)}
                | {name: "" if entry.get(name) is None else str(entry[name]) for name in LIMITS}
            )
    return rows[:MODEL_ROWS_MAX]


def _model_rows_from(form: MultiDictProxy[Any]) -> list[dict[str, str]]:
    """The table's rows as posted (`model_limit_model_0`, `model_limit_rpm_0`, ...);
    a row with no model is dropped."""
    rows: list[dict[str, str]] = []
    for index in range(MODEL_ROWS_MAX):
        model = field(form, f"model_limit_model_{index}").strip()
        if model:
            rows.append(
                {"model": model}
                | {name: field(form, f"model_limit_{name}_{index}").strip() for name in LIMITS}
            )
    return rows


def _values_from(form: MultiDictProxy[Any]) -> dict[str, Any]:
    period = field(form, "budget_period")
    return {
        "name": field(form, "name"),
        "models": [m for m in form.getall("models", []) if isinstance(m, str)][:500],
        "expires": field(form, "expires").strip(),
        "ip_allowlist": field(form, "ip_allowlist"),
        "budget_usd": field(form, "budget_usd").strip(),
        "budget_period": period if period in PERIODS else "day",
        **{name: field(form, name).strip() for name in LIMITS},
        "model_limits": _model_rows_from(form),
    }


def _limit(text: str) -> int | str | None:
    """Empty: no limit; digits: the number; anything else as typed, for the API to refuse."""
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 12 else text


def _lines(text: str) -> list[str]:
    """The allowlist's networks as sent: one a line, blank lines dropped."""
    return [line.strip() for line in _LINES.split(text) if line.strip()][:MAX_LINES]


def _named_entry(detail: str, networks: list[str]) -> str:
    """The API counts the list's items from 0 ("item 1 is not a CIDR network");
    a person reads lines: name the entry itself instead."""
    found = _ITEM.match(detail)
    if found is None or int(found.group(1)) >= len(networks):
        return detail
    return f"“{networks[int(found.group(1))]}”{detail[found.end() :]}"


def body_of(values: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The PATCH body for the form's values (`ValueError` for an expiry that is no date)."""
    lines = _lines(values["ip_allowlist"])
    return {
        "name": values["name"],
        "models": values["models"] or None,
        "expires_at": expiry_end(values["expires"], zone).isoformat()
        if values["expires"]
        else None,
        "ip_allowlist": lines or None,
        "budget": (
            {"usd": values["budget_usd"], "period": values["budget_period"]}
            if values["budget_usd"]
            else None
        ),
        "limits": {
            **{name: _limit(values[name]) for name in LIMITS},
            "models": {
                row["model"]: {name: _limit(row[name]) for name in LIMITS}
                for row in values["model_limits"]
            },
        },
    }


def _table(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    empty = dict.fromkeys(("model", *LIMITS), "")
    room = max(0, min(EMPTY_MODEL_ROWS, MODEL_ROWS_MAX - len(rows)))
    return rows + [dict(empty) for _ in range(room)]


async def _key(request: web.Request, visitor: SignedIn, key_id: str) -> dict[str, Any]:
    """The visitor's live key `key_id` as the API returns it (the 404 page if none)."""
    answer = await call(request, "GET", "/api/keys")
    if not answer.ok or not isinstance(answer.body, dict):
        raise web.HTTPBadGateway(text="The keys cannot be read right now.")
    for key in answer.body.get("data", []):
        if isinstance(key, dict) and str(key.get("id")) == key_id:
            return key
    raise web.HTTPNotFound()


async def _page(
    request: web.Request,
    visitor: SignedIn,
    key: dict[str, Any],
    values: dict[str, Any],
    *,
    problem: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    zone = zone_of(request, visitor)
    catalog = await model_catalog(request)
    details = problem["details"] if problem else []
    # The table's problems are shown whole under it: they name the model.
    table_problems = [d for d in details if d.startswith("limits.models")]
    problems = sort_problems([d for d in details if d not in table_problems], FIELDS)
    if table_problems:
        problems.by_field["model_limits"] = table_problems
    networks = _lines(values["ip_allowlist"])
    problems.by_field["ip_allowlist"] = [
        _named_entry(detail, networks) for detail in problems.by_field.get("ip_allowlist", [])
    ]
    if problem is not None:
        problem = {**problem, "details": problems.rest}
    context = {
        **visitor.context(),
        "key": {"id": str(key.get("id", "")), "name": str(key.get("name", ""))},
        "families": by_family(catalog),
        # A model the key allows that the catalog no longer offers keeps its box:
        # dropping it unseen would leave no box ticked, which allows every model.
        "unlisted": [m for m in values["models"] if m not in {model for model, _ in catalog}],
        "values": values,
        # The table's rows: the key's, then empty ones to add more.
        "model_rows": _table(values["model_limits"]),
        "model_choices": sorted(
            {model for model, _ in catalog} | {row["model"] for row in values["model_limits"]}
        ),
        "periods": PERIODS,
        "problem": problem,
        "errors": problems.by_field,
        "time_zone": zone.key,
    }
    return render(request, "keys_edit.html", context, status=status)


async def edit_page(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    key = await _key(request, visitor, key_id_of(request))
    return await _page(request, visitor, key, _values_of(key, zone_of(request, visitor)))


async def save(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    form = await form_of(request)
    key_id = key_id_of(request)
    values = _values_from(form)
    key = await _key(request, visitor, key_id)
    try:
        body = body_of(values, zone_of(request, visitor))
    except ValueError:
        problem = {"kind": "bad_date", "message": "", "details": []}
        return await _page(request, visitor, key, values, problem=problem, status=422)
    answer = await call(
        request, "PATCH", f"/api/keys/{key_id}", json=body, csrf_token=field(form, "csrf_token")
    )
    if answer.status == 404:
        raise web.HTTPNotFound()
    if not answer.ok:
        status = answer.status if answer.status >= 400 else 502
        return await _page(
            request, visitor, key, values, problem=key_problem(answer), status=status
        )
    raise redirect(f"/keys?saved=1#key-{key_id}")


async def resume(request: web.Request) -> web.StreamResponse:
    """A key the spend anomaly check suspended works again (`POST /api/keys/{id}/resume`):
    a plain button on its card, undone by nothing (the owner knows the spending was theirs)."""
    await signed_in(request)
    form = await form_of(request)
    key_id = key_id_of(request)
    answer = await call(
        request, "POST", f"/api/keys/{key_id}/resume", csrf_token=field(form, "csrf_token")
    )
    if answer.status == 404:
        raise web.HTTPNotFound()
    if answer.status == 403 and key_problem(answer)["kind"] == "csrf":
        raise web.HTTPForbidden()
    if not answer.ok:
        raise web.HTTPBadGateway(text="The key cannot be resumed right now.")
    raise redirect(f"/keys?resumed=1#key-{key_id}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/keys/{key_id}/edit", edit_page)
    router.add_post("/keys/{key_id}/edit", save)
    router.add_post("/keys/{key_id}/resume", resume)
