"""Stripe: Checkout Sessions through the official `stripe` package's async client.

Checkout: one Checkout Session per order (`mode=payment`, one line item with
`price_data.unit_amount` = the order's minor units, `client_reference_id` and
`metadata.order_id` = the order id, the PaymentIntent's metadata too, so
charge and dispute events can name the order), created with the order's
idempotency key and an `expires_at`. The client is `stripe.StripeClient` with
its aiohttp HTTP client; `STRIPE_API_BASE` overrides its API base (the mock
provider in dev and tests).

Webhooks, as Stripe documents them ("Verify webhook signatures"): the
`Stripe-Signature` header is `t=<unix time>,v1=<hex>[,v1=<hex>...]`; each
`v1` is HMAC-SHA256 of `<t>.<raw body>` with the endpoint's secret; any one
matching `v1` verifies (several during a secret roll), compared in constant
time; `t` must be within 300 s of now (either side). Only then is the body
parsed. Events, normalized:

    checkout.session.completed            paid when payment_status == "paid", else ignored
                                          (an async method: its own event follows)
    checkout.session.async_payment_succeeded  paid
    checkout.session.async_payment_failed     payment_failed
    checkout.session.expired              expired
    charge.refunded                       refunded (amount_refunded: the total so far)
    charge.dispute.created                dispute_opened
    charge.dispute.closed                 dispute_closed: won (also warning_closed) or lost
    anything else                         ignored

A charge or dispute names the payment by its PaymentIntent (`payment_intent`),
which the order stores when it is paid (the session's `payment_intent`), and
by `metadata.order_id` when the PaymentIntent's metadata was copied to it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import stripe

from services.billing.money_fields import money
from services.billing.payments.provider import (
    Checkout,
    CheckoutRequest,
    DisputeOutcome,
    EventKind,
    PaymentState,
    PaymentStatus,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    Refund,
    RefundRequest,
    RefundStatus,
    WebhookEvent,
    WebhookRefused,
)

TOLERANCE_SECONDS = 300
# The events billing acts on: what the webhook endpoint should be registered
# for, and what the reconciler asks for when webhooks may have been lost.
EVENT_TYPES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
)
MAX_FETCHED = 1000
SIGNATURE_HEADER = "Stripe-Signature"
_MAX_HEADER = 4096


def _unavailable_or_refused(exc: stripe.StripeError) -> ProviderError:
    status = exc.http_status
    if (
        isinstance(exc, stripe.APIConnectionError)
        or status is None
        or status >= 500
        or status == 429
    ):
        return ProviderUnavailable(f"stripe unavailable: {type(exc).__name__} ({status})")
    return ProviderRefused(f"stripe refused: {type(exc).__name__} ({status}) {exc.code or ''}")


def verify_signature(body: bytes, header: str | None, secret: str | None, now: float) -> None:
    """Raise `WebhookRefused` unless `header` signs `body` with `secret` within the tolerance."""
    if not secret:
        raise WebhookRefused("no webhook secret is configured: every webhook is refused")
    if not header:
        raise WebhookRefused("missing Stripe-Signature header")
    if len(header) > _MAX_HEADER:
        raise WebhookRefused("Stripe-Signature header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookRefused("Stripe-Signature has no timestamp or no v1 signature")
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # Compare against every v1 (no early exit), in constant time each.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookRefused("no v1 signature matches")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise WebhookRefused("signature timestamp outside the 300 s tolerance")


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` header for `body` (the mock provider and tests)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _order_id(obj: Mapping[str, Any]) -> uuid.UUID | None:
    metadata = obj.get("metadata")
    candidates = [obj.get("client_reference_id")]
    if isinstance(metadata, Mapping):
        candidates.append(metadata.get("order_id"))
    for raw in candidates:
        if isinstance(raw, str):
            try:
                return uuid.UUID(raw)
            except ValueError:
                continue
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value[:255]
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])[:255]  # an expanded object
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _currency(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and len(value) == 3 else None


def parse_event(body: bytes) -> WebhookEvent:
    """A verified body as a normalized event (`WebhookRefused` if it is not an event)."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookRefused("the body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookRefused("the body is not a Stripe event")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_type = str(event.get("type", ""))[:200]
    base: dict[str, Any] = {
        "provider": "stripe",
        "event_id": event["id"][:255],
        "event_type": event_type,
    }
    if not isinstance(obj, dict):
        return WebhookEvent(kind=EventKind.IGNORED, **base)
    if event_type.startswith("checkout.session."):
        session: dict[str, Any] = {
            "order_id": _order_id(obj),
            "provider_payment_id": _text(obj.get("id")),
            "payment_reference": _text(obj.get("payment_intent")),
            "amount_minor": _int(obj.get("amount_total")),
            "currency": _currency(obj.get("currency")),
        }
        paid = obj.get("payment_status") == "paid"
        kind = {
            "checkout.session.completed": EventKind.PAID if paid else EventKind.IGNORED,
            "checkout.session.async_payment_succeeded": EventKind.PAID
            if paid
            else EventKind.IGNORED,
            "checkout.session.async_payment_failed": EventKind.PAYMENT_FAILED,
            "checkout.session.expired": EventKind.EXPIRED,
        }.get(event_type, EventKind.IGNORED)
        return WebhookEvent(kind=kind, **base, **session)
    if event_type == "charge.refunded":
        return WebhookEvent(
            kind=EventKind.REFUNDED,
            order_id=_order_id(obj),
            payment_reference=_text(obj.get("payment_intent")),
            amount_minor=_int(obj.get("amount")),
            currency=_currency(obj.get("currency")),
            refund_amount_minor=_int(obj.get("amount_refunded")),
            **base,
        )
    if event_type in ("charge.dispute.created", "charge.dispute.closed"):
        closed = event_type == "charge.dispute.closed"
        outcome = None
        if closed:
            lost = obj.get("status") == "lost"
            outcome = DisputeOutcome.LOST if lost else DisputeOutcome.WON
        return WebhookEvent(
            kind=EventKind.DISPUTE_CLOSED if closed else EventKind.DISPUTE_OPENED,
            order_id=_order_id(obj),
            payment_reference=_text(obj.get("payment_intent")),
            currency=_currency(obj.get("currency")),
            dispute_id=_text(obj.get("id")),
            dispute_amount_minor=_int(obj.get("amount")),
            dispute_outcome=outcome,
            **base,
        )
    return WebhookEvent(kind=EventKind.IGNORED, **base)


class StripeProvider:
    """`PaymentProvider` for Stripe."""

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str | None,
        api_base: str = "https://api.stripe.com",
        max_network_retries: int = 2,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=30, connect=5))
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    @property
    def name(self) -> str:
        return "stripe"

    def allowed_amounts(self) -> tuple[Decimal, ...] | None:
        return None

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        order = str(request.order_id)
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.amount_minor,
                        "product_data": {
                            "name": f"Tollgate credit ({money(request.amount)} {request.currency})"
                        },
                    },
                }
            ],
            "client_reference_id": order,
            "metadata": {"order_id": order, "user_id": str(request.user_id)},
            "payment_intent_data": {"metadata": {"order_id": order}},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.expires_at is not None:
            params["expires_at"] = int(request.expires_at.timestamp())
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _unavailable_or_refused(exc) from exc
        if not session.url:
            raise ProviderRefused("stripe answered a session without a url")
        return Checkout(
            provider_payment_id=session.id,
            checkout_url=session.url,
            expires_at=datetime.fromtimestamp(session.expires_at, UTC)
            if session.expires_at
            else None,
        )

    async def fetch_payment(self, provider_payment_id: str) -> PaymentState:
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(provider_payment_id)
        except stripe.StripeError as exc:
            raise _unavailable_or_refused(exc) from exc
        if session.payment_status == "paid":
            status = PaymentStatus.PAID
        elif session.status == "expired":
            status = PaymentStatus.EXPIRED
        else:
            status = PaymentStatus.PENDING
        raw = session.to_dict()
        return PaymentState(
            provider_payment_id=session.id,
            status=status,
            amount_minor=session.amount_total,
            currency=_currency(session.currency),
            order_id=_order_id(raw),
            payment_reference=_text(raw.get("payment_intent")),
        )

    async def refund(self, request: RefundRequest) -> Refund:
        if request.payment_reference is None:
            raise ProviderRefused("a Stripe refund needs the order's PaymentIntent")
        try:
            refund = await self._client.v1.refunds.create_async(
                {
                    "payment_intent": request.payment_reference,
                    "amount": request.amount_minor,
                    "metadata": {"reason": request.reason[:500]},
                },
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _unavailable_or_refused(exc) from exc
        status = {
            "succeeded": RefundStatus.SUCCEEDED,
            "failed": RefundStatus.FAILED,
            "canceled": RefundStatus.FAILED,
        }.get(refund.status or "", RefundStatus.PENDING)
        return Refund(refund_id=refund.id, status=status)

    async def fetch_events(self, *, created_after: int, created_before: int) -> list[WebhookEvent]:
        """The events of `EVENT_TYPES` created in the window, oldest first (at most
        `MAX_FETCHED`; Stripe keeps 30 days and lists newest first)."""
        params: dict[str, Any] = {
            "types": list(EVENT_TYPES),
            "created": {"gt": created_after, "lt": created_before},
            "limit": 100,
        }
        found: list[WebhookEvent] = []
        try:
            while len(found) < MAX_FETCHED:
                page = await self._client.v1.events.list_async(params)  # type: ignore[arg-type]
                for item in page.data:
                    found.append(parse_event(orjson.dumps(item.to_dict(for_json=True))))
                if not page.has_more or not page.data:
                    break
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise _unavailable_or_refused(exc) from exc
        return found[::-1]

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], now: float) -> WebhookEvent:
        verify_signature(body, headers.get(SIGNATURE_HEADER), self._webhook_secret, now)
        return parse_event(body)

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]
