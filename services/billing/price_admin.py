"""Prices over HTTP: `/api/admin/prices/{model}` and `/internal/prices`.

`GET /api/admin/prices` lists every priced model with its current and next
version.

Rules:

- Admin routes need the admin role; the gateway checks it, billing checks
  it again.
- Rates are decimal strings (never JSON numbers), non-negative, in USD per
  million tokens (`web_search`: per thousand searches), at most 9 decimal
  places: refused, never rounded, beyond that.
- A PUT adds a version and never edits one. `effective_from` defaults to now;
  a time in the past is refused, because events from that time may already
  be charged at the old price and the ledger never reprices history. A
  version at an existing (model, effective_from) is a 409.
- Once a version is committed, `tg:invalidate:prices` is published so every
  gateway reloads its price table at once.
- `/internal/prices` serves the gateway: each model's version in force now
  and every later one, so a scheduled change applies without a reload.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.billing import price_store
from services.billing.money_fields import decimal_string, money
from services.billing.pricing import Price, price_at
from shared import invalidation
from shared.bodies import Fields, read_object
from shared.client_input import name_problem
from shared.errors import NotFound, Unprocessable
from shared.internal import caller
from shared.service import DB, REDIS

PRICES_CHANGED = invalidation.PRICES_CHANGED
RATES = ("input", "output", "cache_read", "cache_write", "web_search")
_FIELDS = frozenset({*RATES, "max_output_tokens", "effective_from"})
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")
DEFAULT_MAX_OUTPUT_TOKENS = 8192


def price_json(price: Price) -> dict[str, Any]:
    return {
        "model": price.model,
        "effective_from": price.effective_from.isoformat(),
        "input": money(price.input),
        "output": money(price.output),
        "cache_read": money(price.cache_read),
        "cache_write": money(price.cache_write),
        "web_search": money(price.web_search),
        "max_output_tokens": price.max_output_tokens,
    }


def _model(request: web.Request) -> str:
    """The model in the path: 422 for text no model name can hold, 404 for any
    other name outside the rule."""
    model = request.match_info["model"]
    problem = name_problem(model)
    if problem is not None:
        raise Unprocessable("invalid model in the path", details=[f"model: {problem}"])
    if not _MODEL.fullmatch(model):
        raise NotFound("no such model")
    return model


def read_version(body: dict[str, Any]) -> tuple[dict[str, Decimal], int, datetime | None]:
    """(rates, max_output_tokens, effective_from) from a PUT body, or a 422."""
    fields = Fields(body)
    fields.refuse_unknown(_FIELDS)
    rates: dict[str, Decimal | None] = {
        name: decimal_string(
            body, name, fields.problems, places=9, whole_digits=11, required=name != "web_search"
        )
        for name in RATES
    }
    max_output = fields.integer("max_output_tokens", low=1, high=100_000_000)
    effective_from = fields.timestamp("effective_from")
    if effective_from is not None and effective_from < datetime.now(UTC):
        fields.problems.append(
            "effective_from: must not be in the past (leave it out to start now)"
        )
    fields.check()
    return (
        {name: Decimal(0) if value is None else value for name, value in rates.items()},
        DEFAULT_MAX_OUTPUT_TOKENS if max_output is None else max_output,
        effective_from,
    )


async def list_prices(request: web.Request) -> web.Response:
    """Every priced model: the version in force now (None when its first is yet to
    come) and the next scheduled one (None when none is), by model name."""
    caller(request).require_admin()
    models: dict[str, dict[str, Any]] = {}
    now = datetime.now(UTC)
    for price in await price_store.current_and_future(request.app[DB]):
        entry = models.setdefault(
            price.model, {"model": price.model, "current": None, "next": None}
        )
        if price.effective_from <= now:
            entry["current"] = price_json(price)
        elif entry["next"] is None:
            entry["next"] = price_json(price)
    return web.json_response({"data": [models[name] for name in sorted(models)]})


async def get_prices(request: web.Request) -> web.Response:
    """The model's price in force now, and every version, newest first."""
    caller(request).require_admin()
    model = _model(request)
    versions = await price_store.history(request.app[DB], model)
    if not versions:
        raise NotFound(f"no price for {model}")
    current = price_at(versions, datetime.now(UTC))
    return web.json_response(
        {
            "model": model,
            "current": None if current is None else price_json(current),
            "history": [price_json(version) for version in versions],
        }
    )


async def put_price(request: web.Request) -> web.Response:
    """Add a price version for the model."""
    admin = caller(request).require_admin()
    model = _model(request)
    rates, max_output_tokens, effective_from = read_version(await read_object(request))
    price = await price_store.add_version(
        request.app[DB],
        model=model,
        effective_from=effective_from,
        rates=rates,
        max_output_tokens=max_output_tokens,
        created_by=admin,
    )
    await invalidation.publish(request.app[REDIS], PRICES_CHANGED, model)
    return web.json_response(price_json(price), status=201)


async def internal_prices(request: web.Request) -> web.Response:
    prices = await price_store.current_and_future(request.app[DB])
    return web.json_response({"prices": [price_json(price) for price in prices]})
