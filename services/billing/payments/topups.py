"""Top-ups over HTTP: the options, starting one, and the caller's orders.

`GET /api/billing/topup-options` (also `/api/billing/topups/options`):
enabled providers (with the only amounts each can charge, when it has such a
list: Creem), currency, minimum, maximum and presets. `enabled` is false when
no provider is configured.

`POST /api/billing/topups` `{amount, provider, currency?}` (a signed-in user;
an API key cannot: the gateway lets keys read billing only): the amount is a
decimal string exact in the currency's minor units, within TOPUP_MIN..MAX and
among the provider's amounts when it has a list. The price snapshot is taken
once: the order stores amount, currency, minor units and credit (= amount),
and the provider is asked to charge exactly those minor units. The order is
committed `pending` BEFORE the provider is called, so a webhook that beats
the call's answer finds it. Then:

- the provider answers: its payment id, checkout URL and expiry are stored;
  201 `{order_id, status, checkout_url, ...}`;
- the provider is down or refuses: the order is marked `failed` (with why),
  nothing is credited, 503 with a sentence that says nothing was charged.
  A `failed` order may still become `paid` if money arrives for it after all
  (a checkout created although its answer was lost): see orders.py.

`GET /api/billing/orders?limit=&before=<order id>`: the caller's orders,
newest first, `next_before` for the next page. `GET /api/billing/orders/{id}`:
one of the caller's orders (someone else's is 404, as a missing one).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.billing.money_fields import money
from services.billing.payments import orders
from services.billing.payments.payment_settings import minor_exponent, parse_amount
from services.billing.payments.provider import (
    CheckoutRequest,
    ProviderRefused,
    ProviderUnavailable,
)
from services.billing.payments.setup import PAYMENT_SETTINGS, PROVIDERS
from shared.bodies import Fields, read_object
from shared.errors import NotFound, ServiceUnavailable, Unprocessable
from shared.internal import caller
from shared.service import DB

_log = logging.getLogger(__name__)

DEFAULT_PAGE = 20
MAX_PAGE = 100
_FIELDS = frozenset({"amount", "provider", "currency"})


async def options(request: web.Request) -> web.Response:
    caller(request).require_user()
    settings = request.app[PAYMENT_SETTINGS]
    providers = request.app[PROVIDERS]
    listed = []
    for name in settings.providers:
        provider = providers.get(name)
        if provider is None:
            continue
        amounts = provider.allowed_amounts()
        listed.append(
            {"name": name, "amounts": None if amounts is None else [money(a) for a in amounts]}
        )
    return web.json_response(
        {
            "enabled": bool(listed),
            "providers": listed,
            "currency": settings.currency,
            "min": money(settings.topup_min),
            "max": money(settings.topup_max),
            "presets": [money(p) for p in settings.presets],
        }
    )


def _read_topup(request: web.Request, body: dict[str, Any]) -> tuple[Decimal, str]:
    settings = request.app[PAYMENT_SETTINGS]
    providers = request.app[PROVIDERS]
    fields = Fields(body)
    fields.refuse_unknown(_FIELDS)
    provider = fields.string("provider", max_length=40, controls="none")
    currency = fields.string("currency", required=False, max_length=8, controls="none")
    raw_amount = body.get("amount")
    amount: Decimal | None = None
    places = minor_exponent(settings.currency)
    if raw_amount is None:
        fields.problems.append("amount: required")
    elif not isinstance(raw_amount, str):
        fields.problems.append('amount: must be a decimal string such as "10.00", not a number')
    else:
        amount = parse_amount(raw_amount, places)
        if amount is None:
            fields.problems.append(
                f"amount: a positive amount with at most {places} decimal places"
            )
        elif not settings.topup_min <= amount <= settings.topup_max:
            fields.problems.append(
                f"amount: from {money(settings.topup_min)} to {money(settings.topup_max)} "
                f"{settings.currency}"
            )
            amount = None
    if provider is not None and provider not in providers:
        enabled = ", ".join(providers) or "none: top-ups are not enabled"
        fields.problems.append(f"provider: not an enabled provider (enabled: {enabled})")
        provider = None
    if currency is not None and currency.upper() != settings.currency:
        fields.problems.append(f"currency: top-ups are charged in {settings.currency} only")
    if provider is not None and amount is not None:
        allowed = providers[provider].allowed_amounts()
        if allowed is not None and amount not in allowed:
            offered = ", ".join(money(a) for a in allowed)
            fields.problems.append(f"amount: {provider} offers {offered} {settings.currency}")
    fields.check()
    assert amount is not None and provider is not None
    return amount, provider


def _checkout_lifetime(minutes: int) -> timedelta:
    """The requested lifetime, kept a minute inside Stripe's bounds (30 minutes
    to 24 hours from when it receives the call), which a few milliseconds of
    travel would otherwise cross at either end."""
    low, high = timedelta(minutes=31), timedelta(hours=24) - timedelta(minutes=1)
    return min(max(timedelta(minutes=minutes), low), high)


async def create_topup(request: web.Request) -> web.Response:
    user_id = caller(request).require_user()
    amount, provider_name = _read_topup(request, await read_object(request))
    settings = request.app[PAYMENT_SETTINGS]
    provider = request.app[PROVIDERS][provider_name]
    pool: Any = request.app[DB]
    order = await orders.create(
        pool,
        user_id=user_id,
        provider=provider_name,
        amount=amount,
        currency=settings.currency,
        credit=amount,
    )
    checkout_request = CheckoutRequest(
        order_id=order.id,
        user_id=user_id,
        amount=order.amount,
        amount_minor=order.amount_minor,
        currency=order.currency,
        success_url=settings.return_url(order.id, "success"),
        cancel_url=settings.return_url(order.id, "cancel"),
        idempotency_key=f"tollgate-order-{order.id}",
        expires_at=datetime.now(UTC) + _checkout_lifetime(settings.checkout_minutes),
    )
    try:
        checkout = await provider.create_checkout(checkout_request)
    except (ProviderUnavailable, ProviderRefused) as exc:
        unavailable = isinstance(exc, ProviderUnavailable)
        why = "provider unavailable" if unavailable else "provider refused the checkout"
        await orders.close(pool, order.id, orders.Status.FAILED, f"{why}: {exc}"[:500])
        _log.warning(
            "top-up checkout failed",
            extra={"provider": provider_name, "order_id": str(order.id), "reason": str(exc)},
        )
        raise ServiceUnavailable(
            f"the payment provider ({provider_name}) "
            + ("cannot be reached" if unavailable else "refused the payment")
            + " right now; nothing was charged. Try again later."
        ) from exc
    except Exception:
        await orders.close(pool, order.id, orders.Status.FAILED, "checkout call failed")
        raise
    order = await orders.attach_checkout(
        pool,
        order.id,
        provider_payment_id=checkout.provider_payment_id,
        checkout_url=checkout.checkout_url,
        expires_at=checkout.expires_at,
    )
    answer = order.public()
    answer["order_id"] = answer["id"]
    answer["checkout_url"] = checkout.checkout_url
    return web.json_response(answer, status=201)


async def list_orders(request: web.Request) -> web.Response:
    user_id = caller(request).require_user()
    problems: list[str] = []
    limit = DEFAULT_PAGE
    raw_limit = request.query.get("limit", "")
    if raw_limit:
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_PAGE:
            limit = int(raw_limit)
        else:
            problems.append(f"limit: an integer from 1 to {MAX_PAGE}")
    before: tuple[datetime, uuid.UUID] | None = None
    pool: Any = request.app[DB]
    if raw_before := request.query.get("before", ""):
        found = None
        try:
            found = await orders.get(pool, uuid.UUID(raw_before))
        except ValueError:
            pass
        if found is None or found.user_id != user_id:
            problems.append("before: an order id from a previous page")
        else:
            before = (found.created_at, found.id)
    if problems:
        raise Unprocessable("invalid query parameters", details=problems)
    page = await orders.for_user(pool, user_id, limit=limit, before=before)
    return web.json_response(
        {
            "data": [order.public() for order in page],
            "next_before": str(page[-1].id) if len(page) == limit else None,
        }
    )


async def get_order(request: web.Request) -> web.Response:
    user_id = caller(request).require_user()
    try:
        order_id = uuid.UUID(request.match_info["order_id"])
    except ValueError:
        raise NotFound("order not found") from None
    order = await orders.get(request.app[DB], order_id)
    if order is None or order.user_id != user_id:
        raise NotFound("order not found")
    return web.json_response(order.public())
