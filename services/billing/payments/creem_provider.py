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
- Webhooks: a JSON body `{"id": "evt_...", "eventType": ..., "created_at": ms,
  "object": {...}}`, signed in the `creem-signature` header with the hex
  HMAC-SHA256 of the raw body under the webhook secret. No timestamp is signed,
  so there is no tolerance window: a replayed event is stopped by billing's
  store of event ids. Events used: `checkout.completed` (object: the checkout,
  with `request_id`, `order`), `refund.created` (object: the refund, with
  `refund_amount`, `refund_currency`, `status`, `transaction`, and maybe
  `checkout`/`order`), `dispute.created` (object: the dispute, with `amount`,
  `currency`, `transaction`). Creem sends no event when a dispute closes.
  Every other event type is acknowledged and ignored.

Amounts: Creem's are integers in the currency's minor units (cents), like
`amount_minor`. What Creem calls the amount paid may include tax it adds on
top (a product whose `tax_mode` is `exclusive`); Tollgate sells packs at the
product's price, so the amount reported for a payment is what was paid for
the product: the amount paid minus that added tax. Refunds and disputes are
reported in the same terms, scaled by the transaction's `amount` over its
`amount_paid` (a full refund of 12.10 EUR paid for a 10.00 EUR pack is 10.00).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from services.billing.payments.payment_settings import CreemSettings
from services.billing.payments.provider import (
    Checkout,
    CheckoutRequest,
    EventKind,
    PaymentState,
    PaymentStatus,
    ProviderRefused,
    ProviderUnavailable,
    Refund,
    RefundRequest,
    RefundStatus,
    WebhookEvent,
    WebhookRefused,
)

_log = logging.getLogger(__name__)

NAME = "creem"
SIGNATURE_HEADER = "creem-signature"
DEFAULT_API_BASE = "https://api.creem.io"
TEST_API_BASE = "https://test-api.creem.io"
_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
_REMEMBERED = 1024  # checkouts and refunds answered from memory on a repeat


def sign(body: bytes, secret: str) -> str:
    """Creem's signature of a webhook body: hex HMAC-SHA256 under the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, signature: str | None, secret: str | None) -> None:
    """Raise `WebhookRefused` unless `signature` is the body's, in constant time."""
    if not secret:
        raise WebhookRefused("no CREEM_WEBHOOK_SECRET is set: Creem webhooks are refused")
    if not signature:
        raise WebhookRefused(f"no {SIGNATURE_HEADER} header")
    candidate = signature.strip().lower()
    if len(candidate) != 64 or any(c not in "0123456789abcdef" for c in candidate):
        raise WebhookRefused(f"malformed {SIGNATURE_HEADER} header")
    if not hmac.compare_digest(sign(body, secret), candidate):
        raise WebhookRefused(f"{SIGNATURE_HEADER} does not match the body")


def _amount_text(amount: Decimal) -> str:
    return f"{amount:f}"


def _cents(value: object) -> int | None:
    """A Creem amount (a JSON number of minor units) as an int, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ref(value: object) -> str | None:
    """An id Creem sends either bare or inside an expanded object."""
    if isinstance(value, dict):
        return _text(value.get("id"))
    return _text(value)


def _uuid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _currency(value: object) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def _order_of(checkout: Mapping[str, Any]) -> uuid.UUID | None:
    """Our order id: the checkout's `request_id`, else its metadata's `order_id`."""
    return _uuid(checkout.get("request_id")) or _uuid(
        _obj(checkout.get("metadata")).get("order_id")
    )


def _paid_for_product(order: Mapping[str, Any], product: object) -> int | None:
    """What a Creem order paid for the product: the amount paid, less the tax
    Creem added on top when the product's tax mode is not `inclusive`."""
    paid = _cents(order.get("amount_paid"))
    if paid is None:
        paid = _cents(order.get("amount_due"))
    if paid is None:
        paid = _cents(order.get("amount"))
    if paid is None:
        return None
    tax = _cents(order.get("tax_amount")) or 0
    if _obj(product).get("tax_mode") == "inclusive":
        return paid
    return paid - tax


def _in_pack_terms(cents: int | None, transaction: Mapping[str, Any]) -> int | None:
    """A refund or dispute amount (in what the buyer paid, tax included) in
    the terms of the pack's price: scaled by the transaction's amount over
    its amount paid, never above the amount."""
    if cents is None:
        return None
    amount = _cents(transaction.get("amount"))
    paid = _cents(transaction.get("amount_paid"))
    if amount is None or paid is None or paid <= 0 or paid == amount:
        return cents
    return min(amount, (cents * amount + paid // 2) // paid)


def _payment_status(checkout: Mapping[str, Any]) -> PaymentStatus:
    status = checkout.get("status")
    order = _obj(checkout.get("order"))
    if status == "completed" and order.get("status") == "paid":
        return PaymentStatus.PAID
    if status == "expired":
        return PaymentStatus.EXPIRED
    return PaymentStatus.PENDING


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
            checkout_id = _text(answer.get("id"))
            url = _text(answer.get("checkout_url"))
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
        order = _obj(answer.get("order"))
        return PaymentState(
            provider_payment_id=_text(answer.get("id")) or provider_payment_id,
            status=_payment_status(answer),
            amount_minor=_paid_for_product(order, answer.get("product")) if order else None,
            currency=_currency(order.get("currency")),
            order_id=_order_of(answer),
            payment_reference=_ref(order.get("transaction")),
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
                refund_id=_text(answer.get("id")) or f"{transaction}:refund",
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
        verify_signature(body, headers.get(SIGNATURE_HEADER), self._settings.webhook_secret)
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRefused("the signed body is not JSON") from None
        if not isinstance(event, dict):
            raise WebhookRefused("the signed body is not a Creem event")
        event_id = _text(event.get("id"))
        event_type = _text(event.get("eventType"))
        obj = event.get("object")
        if event_id is None or event_type is None or not isinstance(obj, dict):
            raise WebhookRefused("the signed body is not a Creem event (id, eventType, object)")
        if event_type == "checkout.completed":
            return self._checkout_completed(event_id, event_type, obj)
        if event_type == "refund.created":
            return self._refund_created(event_id, event_type, obj)
        if event_type == "dispute.created":
            return self._dispute_created(event_id, event_type, obj)
        return WebhookEvent(
            provider=NAME, event_id=event_id, kind=EventKind.IGNORED, event_type=event_type
        )

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- events --------------------------------------------------------------

    def _checkout_completed(
        self, event_id: str, event_type: str, checkout: dict[str, Any]
    ) -> WebhookEvent:
        order = _obj(checkout.get("order"))
        paid = _payment_status(checkout) is PaymentStatus.PAID
        return WebhookEvent(
            provider=NAME,
            event_id=event_id,
            # A completed checkout whose order is not paid moves nothing; the
            # reconciler asks Creem about the order later.
            kind=EventKind.PAID if paid else EventKind.IGNORED,
            event_type=event_type,
            order_id=_order_of(checkout),
            provider_payment_id=_text(checkout.get("id")),
            payment_reference=_ref(order.get("transaction")),
            amount_minor=_paid_for_product(order, checkout.get("product")) if order else None,
            currency=_currency(order.get("currency")),
        )

    def _refund_created(
        self, event_id: str, event_type: str, refund: dict[str, Any]
    ) -> WebhookEvent:
        transaction = _obj(refund.get("transaction"))
        checkout = refund.get("checkout")
        if refund.get("status") in ("failed", "canceled"):
            kind = EventKind.IGNORED
        else:  # succeeded, or pending: the credit goes back now, not later
            kind = EventKind.REFUNDED
        this_refund = _cents(refund.get("refund_amount"))
        so_far = _cents(transaction.get("refunded_amount"))
        if so_far is None and transaction.get("status") == "refunded":
            so_far = _cents(transaction.get("amount_paid"))
        if so_far is None or (this_refund is not None and this_refund > so_far):
            so_far = this_refund
        return WebhookEvent(
            provider=NAME,
            event_id=event_id,
            kind=kind,
            event_type=event_type,
            order_id=_order_of(checkout) if isinstance(checkout, dict) else None,
            provider_payment_id=_ref(checkout),
            payment_reference=_ref(refund.get("transaction")),
            amount_minor=_cents(transaction.get("amount")),
            currency=_currency(refund.get("refund_currency"))
            or _currency(transaction.get("currency")),
            refund_amount_minor=_in_pack_terms(so_far, transaction),
        )

    def _dispute_created(
        self, event_id: str, event_type: str, dispute: dict[str, Any]
    ) -> WebhookEvent:
        transaction = _obj(dispute.get("transaction"))
        checkout = dispute.get("checkout")
        return WebhookEvent(
            provider=NAME,
            event_id=event_id,
            kind=EventKind.DISPUTE_OPENED,
            event_type=event_type,
            order_id=_order_of(checkout) if isinstance(checkout, dict) else None,
            provider_payment_id=_ref(checkout),
            payment_reference=_ref(dispute.get("transaction")),
            amount_minor=_cents(transaction.get("amount")),
            currency=_currency(dispute.get("currency")) or _currency(transaction.get("currency")),
            dispute_id=_text(dispute.get("id")),
            dispute_amount_minor=_in_pack_terms(_cents(dispute.get("amount")), transaction),
        )

    # -- plumbing ------------------------------------------------------------

    def _check_price(self, product: object, product_id: str, request: CheckoutRequest) -> None:
        """When Creem's answer shows the product, its price must be the pack's."""
        shown = _obj(product)
        price = _cents(shown.get("price"))
        currency = _currency(shown.get("currency"))
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
            message = _obj(answer).get("message") if answer is not None else None
            if isinstance(message, list):
                message = "; ".join(str(m) for m in message)
            detail = f": {str(message)[:200]}" if message else ""
            _log.warning("creem refused", extra={"path": path, "status": status})
            raise ProviderRefused(f"Creem refused {what} ({status}){detail}")
        if not isinstance(answer, dict):
            raise ProviderUnavailable(f"Creem's answer for {what} was not a JSON object")
        return answer
