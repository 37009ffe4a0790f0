"""Creem's wire format: the webhook signature, and reading its checkouts, refunds
and disputes into Tollgate's terms (`creem_provider` makes the calls).

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

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

from services.billing.payments.provider import (
    EventKind,
    PaymentStatus,
    WebhookEvent,
    WebhookRefused,
)

NAME = "creem"
SIGNATURE_HEADER = "creem-signature"


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


def cents_of(value: object) -> int | None:
    """A Creem amount (a JSON number of minor units) as an int, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def text_of(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def object_of(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def ref_of(value: object) -> str | None:
    """An id Creem sends either bare or inside an expanded object."""
    if isinstance(value, dict):
        return text_of(value.get("id"))
    return text_of(value)


def uuid_of(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def currency_of(value: object) -> str | None:
    text = text_of(value)
    return text.upper() if text else None


def order_of(checkout: Mapping[str, Any]) -> uuid.UUID | None:
    """Our order id: the checkout's `request_id`, else its metadata's `order_id`."""
    return uuid_of(checkout.get("request_id")) or uuid_of(
        object_of(checkout.get("metadata")).get("order_id")
    )


def paid_for_product(order: Mapping[str, Any], product: object) -> int | None:
    """What a Creem order paid for the product: the amount paid, less the tax
    Creem added on top when the product's tax mode is not `inclusive`."""
    paid = cents_of(order.get("amount_paid"))
    if paid is None:
        paid = cents_of(order.get("amount_due"))
    if paid is None:
        paid = cents_of(order.get("amount"))
    if paid is None:
        return None
    tax = cents_of(order.get("tax_amount")) or 0
    if object_of(product).get("tax_mode") == "inclusive":
        return paid
    return paid - tax


def in_pack_terms(cents: int | None, transaction: Mapping[str, Any]) -> int | None:
    """A refund or dispute amount (in what the buyer paid, tax included) in
    the terms of the pack's price: scaled by the transaction's amount over
    its amount paid, never above the amount."""
    if cents is None:
        return None
    amount = cents_of(transaction.get("amount"))
    paid = cents_of(transaction.get("amount_paid"))
    if amount is None or paid is None or paid <= 0 or paid == amount:
        return cents
    return min(amount, (cents * amount + paid // 2) // paid)


def payment_status(checkout: Mapping[str, Any]) -> PaymentStatus:
    status = checkout.get("status")
    order = object_of(checkout.get("order"))
    if status == "completed" and order.get("status") == "paid":
        return PaymentStatus.PAID
    if status == "expired":
        return PaymentStatus.EXPIRED
    return PaymentStatus.PENDING


def parse_event(body: bytes, headers: Mapping[str, str], secret: str | None) -> WebhookEvent:
    """Verify `creem-signature` over the raw body, then normalize the event."""
    verify_signature(body, headers.get(SIGNATURE_HEADER), secret)
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRefused("the signed body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookRefused("the signed body is not a Creem event")
    event_id = text_of(event.get("id"))
    event_type = text_of(event.get("eventType"))
    obj = event.get("object")
    if event_id is None or event_type is None or not isinstance(obj, dict):
        raise WebhookRefused("the signed body is not a Creem event (id, eventType, object)")
    if event_type == "checkout.completed":
        return _checkout_completed(event_id, event_type, obj)
    if event_type == "refund.created":
        return _refund_created(event_id, event_type, obj)
    if event_type == "dispute.created":
        return _dispute_created(event_id, event_type, obj)
    return WebhookEvent(
        provider=NAME, event_id=event_id, kind=EventKind.IGNORED, event_type=event_type
    )


def _checkout_completed(event_id: str, event_type: str, checkout: dict[str, Any]) -> WebhookEvent:
    order = object_of(checkout.get("order"))
    paid = payment_status(checkout) is PaymentStatus.PAID
    return WebhookEvent(
        provider=NAME,
        event_id=event_id,
        # A completed checkout whose order is not paid moves nothing; the
        # reconciler asks Creem about the order later.
        kind=EventKind.PAID if paid else EventKind.IGNORED,
        event_type=event_type,
        order_id=order_of(checkout),
        provider_payment_id=text_of(checkout.get("id")),
        payment_reference=ref_of(order.get("transaction")),
        amount_minor=paid_for_product(order, checkout.get("product")) if order else None,
        currency=currency_of(order.get("currency")),
    )


def _refund_created(event_id: str, event_type: str, refund: dict[str, Any]) -> WebhookEvent:
    transaction = object_of(refund.get("transaction"))
    checkout = refund.get("checkout")
    if refund.get("status") in ("failed", "canceled"):
        kind = EventKind.IGNORED
    else:  # succeeded, or pending: the credit goes back now, not later
        kind = EventKind.REFUNDED
    this_refund = cents_of(refund.get("refund_amount"))
    so_far = cents_of(transaction.get("refunded_amount"))
    if so_far is None and transaction.get("status") == "refunded":
        so_far = cents_of(transaction.get("amount_paid"))
    if so_far is None or (this_refund is not None and this_refund > so_far):
        so_far = this_refund
    return WebhookEvent(
        provider=NAME,
        event_id=event_id,
        kind=kind,
        event_type=event_type,
        order_id=order_of(checkout) if isinstance(checkout, dict) else None,
        provider_payment_id=ref_of(checkout),
        payment_reference=ref_of(refund.get("transaction")),
        amount_minor=cents_of(transaction.get("amount")),
        currency=currency_of(refund.get("refund_currency"))
        or currency_of(transaction.get("currency")),
        refund_amount_minor=in_pack_terms(so_far, transaction),
    )


def _dispute_created(event_id: str, event_type: str, dispute: dict[str, Any]) -> WebhookEvent:
    transaction = object_of(dispute.get("transaction"))
    checkout = dispute.get("checkout")
    return WebhookEvent(
        provider=NAME,
        event_id=event_id,
        kind=EventKind.DISPUTE_OPENED,
        event_type=event_type,
        order_id=order_of(checkout) if isinstance(checkout, dict) else None,
        provider_payment_id=ref_of(checkout),
        payment_reference=ref_of(dispute.get("transaction")),
        amount_minor=cents_of(transaction.get("amount")),
        currency=currency_of(dispute.get("currency")) or currency_of(transaction.get("currency")),
        dispute_id=text_of(dispute.get("id")),
        dispute_amount_minor=in_pack_terms(cents_of(dispute.get("amount")), transaction),
    )
