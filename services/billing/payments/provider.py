"""The payment provider interface: what billing asks of Stripe, Creem or the mock.

Billing owns orders, the ledger and every decision about money; a provider
only moves the buyer through a hosted checkout, answers questions about a
payment, refunds, and turns its webhooks into `WebhookEvent`s. Nothing here
touches the database.

Amounts cross this interface twice over: `amount` as a `Decimal` in major
units (what the user was shown) and `amount_minor` as an `int` in the
currency's minor units (what the provider is asked to charge). Billing
computes both once, stores them on the order and sends exactly those; a
provider never converts or rounds.

Contract for implementations:

- `create_checkout` is idempotent per `idempotency_key` (one key per order):
  called again with the same key it returns the same checkout, or refuses;
  it never charges twice. It carries the order id to the provider (Stripe:
  `client_reference_id` and metadata; Creem: `request_id` and metadata) so a
  webhook that arrives before the call returns still names the order.
- Errors: `ProviderUnavailable` when the provider cannot be reached or answers
  5xx/timeout (billing answers 503 and may retry later), `ProviderRefused`
  when it answered and said no (4xx: bad key, unknown product, bad amount).
- `parse_webhook` verifies the signature over the raw body BEFORE parsing
  anything, with the caller's clock (`now`, Unix seconds) so tests can move it.
  Anything it cannot verify raises `WebhookRefused`: a missing secret, a
  missing or malformed signature header, no matching signature, a timestamp
  outside the tolerance. There is no test mode that skips this. A verified
  event the provider sends but billing has no use for is kind `IGNORED`
  (it is still acknowledged and its id stored).
- A verified event is only the provider's word: billing checks order,
  provider, amount and currency against the order before anything moves.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class ProviderError(Exception):
    """A call to the provider did not do what was asked."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, timed out or answered 5xx: try later."""


class ProviderRefused(ProviderError):
    """The provider answered and refused the request (4xx): retrying will not help."""


class WebhookRefused(Exception):
    """A webhook that cannot be verified: answered 400, nothing changes.

    `reason` is short and safe to log (never the secret or the signature)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventKind(StrEnum):
    """What a verified webhook event means for an order."""

    PAID = "paid"  # the money is captured: credit the order
    PAYMENT_FAILED = "payment_failed"  # an async payment failed: the order fails
    EXPIRED = "expired"  # the checkout expired unpaid
    REFUNDED = "refunded"  # money went back (refund_amount_minor: the total so far)
    DISPUTE_OPENED = "dispute_opened"  # a chargeback was opened
    DISPUTE_CLOSED = "dispute_closed"  # a chargeback closed (dispute_outcome)
    IGNORED = "ignored"  # verified, but nothing for billing to do


class DisputeOutcome(StrEnum):
    WON = "won"  # the merchant keeps the money
    LOST = "lost"  # the money went back to the buyer


class PaymentStatus(StrEnum):
    """A payment as the provider sees it now (`fetch_payment`)."""

    PENDING = "pending"  # open checkout, or paid by a method that settles later
    PAID = "paid"
    EXPIRED = "expired"
    FAILED = "failed"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutRequest:
    """A checkout for one order, as billing stored it."""

    order_id: uuid.UUID
    user_id: uuid.UUID
    amount: Decimal  # major units, as shown to the user
    amount_minor: int  # minor units, exactly what the provider charges
    currency: str  # ISO 4217, upper case ("USD")
    success_url: str
    cancel_url: str
    idempotency_key: str  # one per order
    expires_at: datetime | None = None  # asked for; the provider may cap it


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkout:
    provider_payment_id: str  # Stripe: the Checkout Session id; Creem: the checkout id
    checkout_url: str  # where the user is sent to pay
    expires_at: datetime | None  # when the provider will expire it, if it says


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentState:
    """The answer of `fetch_payment`."""

    provider_payment_id: str
    status: PaymentStatus
    amount_minor: int | None
    currency: str | None  # upper case
    order_id: uuid.UUID | None  # from the reference the checkout carried
    # A second provider id for the same payment, by which later refund and
    # dispute events name it (Stripe: the PaymentIntent). None if none yet.
    payment_reference: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundRequest:
    provider_payment_id: str
    payment_reference: str | None  # as stored on the order (Stripe refunds a PaymentIntent)
    amount_minor: int  # this refund, in minor units
    currency: str
    idempotency_key: str  # one per refund request
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Refund:
    refund_id: str
    status: RefundStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """A verified webhook, normalized. Fields a kind has no use for are None.

    The order is found by `order_id` (the reference the checkout carried)
    or else by `provider_payment_id` or `payment_reference`: a refund or
    dispute event may carry only the latter."""

    provider: str  # the provider's name, as in PAYMENT_PROVIDERS
    event_id: str  # the provider's id for this event: processed once
    kind: EventKind
    event_type: str  # the provider's own type ("checkout.session.completed")
    order_id: uuid.UUID | None = None
    provider_payment_id: str | None = None
    payment_reference: str | None = None
    amount_minor: int | None = None  # what was paid (PAID); the payment's amount otherwise
    currency: str | None = None  # upper case
    refund_amount_minor: int | None = None  # REFUNDED: total refunded so far on the payment
    dispute_id: str | None = None
    dispute_amount_minor: int | None = None
    dispute_outcome: DisputeOutcome | None = None  # DISPUTE_CLOSED only


class PaymentProvider(Protocol):
    """One payment provider. Instances are made at start-up from settings and
    live for the process (they may hold an HTTP session: `close` ends it)."""

    @property
    def name(self) -> str:
        """The provider's name in settings, URLs and orders ("stripe", "creem")."""
        ...

    def allowed_amounts(self) -> tuple[Decimal, ...] | None:
        """The only amounts this provider can charge (Creem: one product per
        pack), or None when any amount between the minimum and maximum works."""
        ...

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """Open a hosted checkout for the order (idempotent per key)."""
        ...

    async def fetch_payment(self, provider_payment_id: str) -> PaymentState:
        """The payment's status now, from the provider's API."""
        ...

    async def refund(self, request: RefundRequest) -> Refund:
        """Refund part or all of a paid payment (idempotent per key)."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], now: float) -> WebhookEvent:
        """Verify the raw body's signature, then parse it; `WebhookRefused` if
        it cannot be verified. `headers` is case-insensitive (aiohttp's)."""
        ...

    async def close(self) -> None:
        """Release the provider's HTTP resources."""
        ...


@runtime_checkable
class EventSource(Protocol):
    """A provider that can list its past events (Stripe: `GET /v1/events`), so the
    reconciler finds events whose webhooks never arrived. Events fetched from
    the provider's API with the secret key are authentic without a signature."""

    async def fetch_events(self, *, created_after: int, created_before: int) -> list[WebhookEvent]:
        """The events billing acts on created in (after, before), Unix seconds, oldest first."""
        ...
