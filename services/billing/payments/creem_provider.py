"""Creem (creem.io) as a payment provider: checkouts over HTTP, signed webhooks.

What Creem documents, and what this module does with it (docs.creem.io:
api-reference/introduction, api-reference/endpoint/create-checkout,
get-checkout, refund-payment, code/webhooks, learn/webhooks/event-types):

- The API lives at `https://api.creem.io` (test mode: `https://test-api.creem.io`,
  with its own keys), under `/v1`, authenticated by an `x-api-key` header.
- Creem sells products, each with a fixed price (in cents) and currency. So a
  top-up pack is a product: `CREEM_PRODUCTS` ("10=prod_abc,20=prod_def") maps
  each amount on offer to its product, and an amount with no product is refused
  here, before any call, naming the amounts on offer.
- `POST /v1/checkouts` with `product_id`, `request_id` (our order id),
  `success_url` and `metadata` answers a checkout (`id`, `checkout_url`).
  Creem has no idempotency key for it and no cancel URL: the order id travels
  as `request_id`, and a repeat call with the same key is answered from
  memory within the process (billing keeps the checkout id on the order).
- `GET /v1/checkouts?checkout_id=...` answers the checkout with its status
  (`pending`, `processing`, `completed`, `expired`) and, once paid, its
  `order` (`status` `paid`, `amount`/`amount_paid`/`tax_amount` in cents,
  `currency`, `transaction`).
- `POST /v1/refunds` with a `transaction_id` refunds the WHOLE remaining
  amount of a payment; Creem's API has no partial refund. A partial refund is
  refused here (nothing is sent); an operator makes it in Creem's dashboard
  and it arrives as `refund.created` like any refund.
- Webhooks and amounts: `creem_wire`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from services.billing.payments import creem_wire
from services.billing.payments.creem_wire import NAME
from services.billing.payments.payment_settings import CreemSettings
from services.billing.payments.provider import (
    Checkout,
    CheckoutRequest,
    PaymentState,
    PaymentStatus,
    ProviderRefused,
    ProviderUnavailable,
    Refund,
    RefundRequest,
    RefundStatus,
    WebhookEvent,
)

_log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.creem.io"
TEST_API_BASE = "https://test-api.creem.io"
_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
_REMEMBERED = 1024  # checkouts and refunds answered from memory on a repeat


def _amount_text(amount: Decimal) -> str:
    return f"{amount:f}"


class CreemProvider:
    """The `PaymentProvider` for Creem. Give it a session to share one, else
    it opens its own on first use (and `close` ends it)."""

    def __init__(
        self, settings: CreemSettings, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self._settings = settings
        self._base = settings.api_base.rstrip("/")
        self._session = session
        self._own_session = session is None
        self._checkouts: dict[str, Checkout] = {}
        self._refunds: dict[str, Refund] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def name(self) -> str:
        return NAME

    def allowed_amounts(self) -> tuple[Decimal, ...] | None:
        return tuple(sorted(self._settings.products))

    def product_for(self, amount: Decimal) -> str:
        """The product sold at `amount`, or `ProviderRefused` naming those on offer."""
        product = self._settings.products.get(amount)
        if product is None:
            offered = ", ".join(_amount_text(a) for a in sorted(self._settings.products))
            raise ProviderRefused(
                f"Creem sells top-ups of {offered} only (one product each); "
                f"{_amount_text(amount)} has no product in CREEM_PRODUCTS"
            )
        return product

    # -- the API -------------------------------------------------------------

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        product = self.product_for(request.amount)  # before any call
        async with self._lock(f"checkout:{request.idempotency_key}"):
            known = self._checkouts.get(request.idempotency_key)
            if known is not None:
                return known
            answer = await self._call(
                "POST",
                "/v1/checkouts",
                what="the checkout",
                json_body={
                    "product_id": product,
                    "request_id": str(request.order_id),
                    "units": 1,
                    "success_url": request.success_url,
                    "metadata": {
                        "order_id": str(request.order_id),
                        "user_id": str(request.user_id),
                    },
                },
            )
            checkout_id = creem_wire.text_of(answer.get("id"))
            url = creem_wire.text_of(answer.get("checkout_url"))
            if checkout_id is None or url is None:
                raise ProviderUnavailable("Creem's checkout answer had no id or checkout_url")
            self._check_price(answer.get("product"), product, request)
            checkout = Checkout(provider_payment_id=checkout_id, checkout_url=url, expires_at=None)
            self._remember(self._checkouts, request.idempotency_key, checkout)
            return checkout

    async def fetch_payment(self, provider_payment_id: str) -> PaymentState:
        answer = await self._call(
            "GET",
            "/v1/checkouts",
            what=f"checkout {provider_payment_id}",
            params={"checkout_id": provider_payment_id},
        )
        order = creem_wire.object_of(answer.get("order"))
        return PaymentState(
            provider_payment_id=creem_wire.text_of(answer.get("id")) or provider_payment_id,
            status=creem_wire.payment_status(answer),
            amount_minor=creem_wire.paid_for_product(order, answer.get("product"))
            if order
            else None,
            currency=creem_wire.currency_of(order.get("currency")),
            order_id=creem_wire.order_of(answer),
            payment_reference=creem_wire.ref_of(order.get("transaction")),
        )

    async def refund(self, request: RefundRequest) -> Refund:
        """A whole payment's refund through `POST /v1/refunds`; a part is
        refused before any refund is asked for (Creem's API refunds whole
        payments only: make a partial one in Creem's dashboard)."""
        async with self._lock(f"refund:{request.idempotency_key}"):
            known = self._refunds.get(request.idempotency_key)
            if known is not None:
                return known
            state = await self.fetch_payment(request.provider_payment_id)
            if state.status is not PaymentStatus.PAID or state.amount_minor is None:
                raise ProviderRefused(
                    f"Creem does not show checkout {request.provider_payment_id} as paid"
                )
            if request.amount_minor != state.amount_minor:
                raise ProviderRefused(
                    "Creem's API refunds only a whole payment "
                    f"({state.amount_minor} minor units here, {request.amount_minor} asked); "
                    "make a partial refund in Creem's dashboard: it reaches Tollgate "
                    "as refund.created"
                )
            transaction = request.payment_reference or state.payment_reference
            if transaction is None:
                raise ProviderRefused("Creem names no transaction for this payment yet")
            answer = await self._call(
                "POST",
                "/v1/refunds",
                what=f"the refund of {transaction}",
                json_body={"transaction_id": transaction},
            )
            status = answer.get("status")
            refund = Refund(
                refund_id=creem_wire.text_of(answer.get("id")) or f"{transaction}:refund",
                status=(
                    RefundStatus.SUCCEEDED
                    if status == "succeeded"
                    else RefundStatus.FAILED
                    if status in ("failed", "canceled")
                    else RefundStatus.PENDING
                ),
            )
            self._remember(self._refunds, request.idempotency_key, refund)
            return refund

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], now: float) -> WebhookEvent:
        """Verify `creem-signature` over the raw body, then normalize. `now` is
        unused: Creem signs no timestamp."""
        return creem_wire.parse_event(body, headers, self._settings.webhook_secret)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- plumbing ------------------------------------------------------------

    def _check_price(self, product: object, product_id: str, request: CheckoutRequest) -> None:
        """When Creem's answer shows the product, its price must be the pack's."""
        shown = creem_wire.object_of(product)
        price = creem_wire.cents_of(shown.get("price"))
        currency = creem_wire.currency_of(shown.get("currency"))
        if price is None or currency is None:
            return
        if price != request.amount_minor or currency != request.currency:
            _log.error(
                "creem product price differs from CREEM_PRODUCTS",
                extra={"product": product_id, "price": price, "currency": currency},
            )
            raise ProviderRefused(
                f"Creem's product {product_id} costs {price} minor units of {currency}, "
                f"not {request.amount_minor} of {request.currency}: fix CREEM_PRODUCTS"
            )

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) >= _REMEMBERED:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    @staticmethod
    def _remember(memory: dict[str, Any], key: str, value: object) -> None:
        if len(memory) >= _REMEMBERED:
            memory.pop(next(iter(memory)))
        memory[key] = value

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call to Creem's API: its JSON object, `ProviderUnavailable` when
        it cannot be reached or fails (5xx, 429, timeout), `ProviderRefused`
        when it says no (4xx). Never logs the key."""
        if not self._settings.api_key:
            raise ProviderRefused("CREEM_API_KEY is not set: Creem cannot be called")
        headers = {"x-api-key": self._settings.api_key, "accept": "application/json"}
        try:
            async with self._http().request(
                method,
                f"{self._base}{path}",
                params=params,
                json=json_body,
                headers=headers,
                timeout=_TIMEOUT,
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            _log.warning("creem unreachable", extra={"path": path, "error": type(exc).__name__})
            raise ProviderUnavailable(f"Creem could not be reached for {what}") from exc
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if status >= 500 or status == 429:
            _log.warning("creem failed", extra={"path": path, "status": status})
            raise ProviderUnavailable(f"Creem answered {status} for {what}")
        if status >= 400:
            message = creem_wire.object_of(answer).get("message") if answer is not None else None
            if isinstance(message, list):
                message = "; ".join(str(m) for m in message)
            detail = f": {str(message)[:200]}" if message else ""
            _log.warning("creem refused", extra={"path": path, "status": status})
            raise ProviderRefused(f"Creem refused {what} ({status}){detail}")
        if not isinstance(answer, dict):
            raise ProviderUnavailable(f"Creem's answer for {what} was not a JSON object")
        return answer
