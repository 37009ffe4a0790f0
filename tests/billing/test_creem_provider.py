"""The Creem provider alone: settings, signatures, each event normalized from
Creem's documented bodies, and its API calls against a small recording
stand-in for Creem over real HTTP (the full flow against the mock payment
provider is in test_creem_flow.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.billing.payments.creem_provider import CreemProvider
from services.billing.payments.creem_wire import sign
from services.billing.payments.payment_settings import CreemSettings, PaymentSettings
from services.billing.payments.provider import (
    CheckoutRequest,
    EventKind,
    PaymentStatus,
    ProviderRefused,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
    WebhookRefused,
)
from shared.settings import SettingsError
from tests.billing import creem_payloads as payloads
from tests.conftest import AiohttpServer

NOW = 1_800_000_000.0
PRODUCTS = {Decimal("10"): "prod_ten", Decimal("20"): "prod_twenty"}


def provider(
    secret: str | None = payloads.SECRET, base: str = "http://127.0.0.1:9"
) -> CreemProvider:
    return CreemProvider(
        CreemSettings(
            api_key="creem_test_key", webhook_secret=secret, api_base=base, products=PRODUCTS
        )
    )


# -- settings ------------------------------------------------------------------


def creem_env(**extra: str) -> dict[str, str]:
    return {"PAYMENT_PROVIDERS": "creem", "CREEM_API_KEY": "creem_test_key", **extra}


def test_products_map_amounts_to_products() -> None:
    settings = PaymentSettings.from_env(
        creem_env(
            CREEM_PRODUCTS=" 10=prod_abc, 20.50 = prod_def ,",
            CREEM_WEBHOOK_SECRET="whsec",
            CREEM_API_BASE="https://test-api.creem.io",
        )
    ).creem
    assert settings.products == {Decimal("10"): "prod_abc", Decimal("20.50"): "prod_def"}
    assert settings.api_base == "https://test-api.creem.io"
    assert "creem_test_key" not in repr(settings) and "whsec" not in repr(settings)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "10",
        "10=",
        "=prod_a",
        "ten=prod_a",
        "0=prod_a",
        "-5=prod_a",
        "10.001=prod_a",
        "10=prod_a,10.00=prod_b",
        "10=prod_a,20=prod_a",
    ],
)
def test_malformed_products_are_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="CREEM_PRODUCTS"):
        PaymentSettings.from_env(creem_env(CREEM_PRODUCTS=raw))


def test_amounts_on_offer_are_the_products() -> None:
    assert provider().allowed_amounts() == (Decimal("10"), Decimal("20"))
    assert provider().product_for(Decimal("10.00")) == "prod_ten"


# -- signatures ----------------------------------------------------------------


def test_a_signed_body_is_accepted() -> None:
    body, headers = payloads.signed(payloads.checkout_completed(uuid.uuid4()))
    assert provider().parse_webhook(body, headers, NOW).kind is EventKind.PAID
    # Hex is hex in either case.
    headers["creem-signature"] = headers["creem-signature"].upper()
    assert provider().parse_webhook(body, headers, NOW).kind is EventKind.PAID


def test_the_signature_is_the_documented_hmac() -> None:
    # Computed apart: printf '{"a":1}' | openssl dgst -sha256 -hmac secret
    assert sign(b'{"a":1}', "secret") == (
        "aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda body, h: (body, {}), "no creem-signature"),
        (lambda body, h: (body, {"creem-signature": ""}), "no creem-signature"),
        (lambda body, h: (body, {"creem-signature": "not-hex"}), "malformed"),
        (lambda body, h: (body, {"creem-signature": h["creem-signature"][:-1]}), "malformed"),
        (
            lambda body, h: (body, {"creem-signature": sign(body, "another secret")}),
            "does not match",
        ),
        (lambda body, h: (body.replace(b"1000", b"9000"), h), "does not match"),
        (lambda body, h: (body + b" ", h), "does not match"),
    ],
)
def test_unverifiable_webhooks_are_refused(change: Any, reason: str) -> None:
    body, headers = payloads.signed(payloads.checkout_completed(uuid.uuid4()))
    body, headers = change(body, headers)
    with pytest.raises(WebhookRefused, match=reason):
        provider().parse_webhook(body, headers, NOW)


def test_without_a_secret_every_webhook_is_refused() -> None:
    body, _ = payloads.signed(payloads.checkout_completed(uuid.uuid4()))
    for secret in (None, ""):
        for signature in (sign(body, ""), sign(body, payloads.SECRET)):
            with pytest.raises(WebhookRefused, match="CREEM_WEBHOOK_SECRET"):
                provider(secret=secret).parse_webhook(body, {"creem-signature": signature}, NOW)


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    for body in (b"not json", b"[1]", b'{"id":"evt_1","object":{}}', b'{"eventType":"x"}'):
        with pytest.raises(WebhookRefused):
            provider().parse_webhook(body, {"creem-signature": sign(body, payloads.SECRET)}, NOW)


# -- events ----------------------------------------------------------------------


def parse(event: dict[str, Any]) -> Any:
    body, headers = payloads.signed(event)
    return provider().parse_webhook(body, headers, NOW)


def test_checkout_completed_is_paid_for_the_order_in_request_id() -> None:
    order_id = uuid.uuid4()
    event = parse(payloads.checkout_completed(order_id))
    assert event.provider == "creem"
    assert event.event_id == "evt_5WHHcZPv7VS0YUsberIuOz"
    assert event.event_type == "checkout.completed"
    assert event.kind is EventKind.PAID
    assert event.order_id == order_id
    assert event.provider_payment_id == "ch_4l0N34kxo16AhRKUHFUuXr"
    assert event.amount_minor == 1000  # Creem's amounts are cents already
    assert event.currency == "EUR"
    assert event.payment_reference is None  # the documented example names no transaction


def test_checkout_completed_reports_the_price_paid_without_added_tax() -> None:
    raw = payloads.checkout_completed(uuid.uuid4())
    raw["object"]["order"].update(
        transaction="tran_1", sub_total=1000, tax_amount=210, amount=1210, amount_paid=1210
    )
    event = parse(raw)
    assert (event.amount_minor, event.payment_reference) == (1000, "tran_1")
    raw["object"]["product"]["tax_mode"] = "inclusive"  # the price already holds the tax
    raw["object"]["order"].update(amount=1000, amount_paid=1000, tax_amount=174)
    assert parse(raw).amount_minor == 1000
    raw["object"]["product"]["tax_mode"] = "exclusive"  # a discount code: paid less
    raw["object"]["order"].update(
        amount=1210, discount_amount=121, amount_paid=1089, tax_amount=189
    )
    assert parse(raw).amount_minor == 900


def test_the_order_id_falls_back_to_metadata_and_is_none_when_foreign() -> None:
    order_id = uuid.uuid4()
    raw = payloads.checkout_completed(order_id)
    del raw["object"]["request_id"]
    assert parse(raw).order_id == order_id
    raw = payloads.checkout_completed(order_id)
    raw["object"]["request_id"] = "my-request-id"
    raw["object"]["metadata"] = {}
    assert parse(raw).order_id is None


def test_a_completed_checkout_whose_order_is_not_paid_moves_nothing() -> None:
    raw = payloads.checkout_completed(uuid.uuid4())
    raw["object"]["order"]["status"] = "pending"
    assert parse(raw).kind is EventKind.IGNORED


def test_refund_created_is_the_refund_so_far_in_the_packs_terms() -> None:
    event = parse(payloads.refund_created())
    assert event.kind is EventKind.REFUNDED
    assert event.event_id == "evt_61eTsJHUgInFw2BQKhTiPV"
    assert event.payment_reference == "tran_5yMaWzAl3jxuGJMCOrYWwk"
    assert event.amount_minor == 1000
    assert event.currency == "EUR"
    # 12.10 EUR refunded of 12.10 paid (10.00 and 21% VAT): the whole 10.00 pack.
    assert event.refund_amount_minor == 1000
    assert event.order_id is None and event.provider_payment_id is None


def test_a_partial_refund_and_a_second_one() -> None:
    raw = payloads.refund_created()
    raw["object"]["refund_amount"] = 605
    raw["object"]["transaction"]["status"] = "partialRefund"
    assert parse(raw).refund_amount_minor == 500
    raw["object"]["transaction"]["refunded_amount"] = 968  # 6.05 then 3.63: the total
    raw["object"]["refund_amount"] = 363
    assert parse(raw).refund_amount_minor == 800


def test_a_refund_naming_its_checkout_names_the_order() -> None:
    order_id = uuid.uuid4()
    raw = payloads.refund_created()
    raw["object"]["checkout"] = {"id": "ch_1", "object": "checkout", "request_id": str(order_id)}
    event = parse(raw)
    assert (event.order_id, event.provider_payment_id) == (order_id, "ch_1")
    raw["object"]["checkout"] = "ch_2"
    event = parse(raw)
    assert (event.order_id, event.provider_payment_id) == (None, "ch_2")


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_failed_refund_moves_nothing(status: str) -> None:
    raw = payloads.refund_created()
    raw["object"]["status"] = status
    assert parse(raw).kind is EventKind.IGNORED


def test_dispute_created_opens_a_dispute() -> None:
    event = parse(payloads.dispute_created())
    assert event.kind is EventKind.DISPUTE_OPENED
    assert event.dispute_id == "disp_6vSsOdTANP5PhOzuDlUuXE"
    assert event.dispute_amount_minor == 1331
    assert event.currency == "EUR"
    assert event.payment_reference == "tran_4Dk8CxWFdceRUQgMFhCCXX"
    raw = payloads.dispute_created()
    raw["object"]["transaction"].update(amount=1100, amount_paid=1331)
    assert parse(raw).dispute_amount_minor == 1100


def test_other_events_are_acknowledged_and_ignored() -> None:
    event = parse(payloads.subscription_paid())
    assert (event.kind, event.event_id, event.event_type) == (
        EventKind.IGNORED,
        "evt_21mO1jWmU2QHe7u2oFV7y1",
        "subscription.paid",
    )


# -- the API, against a recording stand-in for Creem ---------------------------------


@dataclass
class FakeCreem:
    """Answers as Creem's API reference shows; records every request."""

    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    status: int = 200
    checkout_status: str = "completed"
    order: dict[str, Any] | None = None
    product_price: int = 1000

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body: Any = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, dict(request.query), body))
        if request.headers.get("x-api-key") != "creem_test_key":
            return web.json_response({"message": "Unauthorized"}, status=401)
        if self.status != 200:
            return web.json_response(
                {"message": ["product_id must be a string"]}, status=self.status
            )
        if request.method == "POST" and request.path == "/v1/checkouts":
            return web.json_response(
                {
                    "id": "ch_new",
                    "object": "checkout",
                    "status": "pending",
                    "mode": "test",
                    "request_id": body["request_id"],
                    "product": {
                        "id": body["product_id"],
                        "price": self.product_price,
                        "currency": "USD",
                    },
                    "checkout_url": "https://checkout.example/ch_new",
                    "metadata": body.get("metadata"),
                }
            )
        if request.method == "GET" and request.path == "/v1/checkouts":
            return web.json_response(
                {
                    "id": request.query["checkout_id"],
                    "object": "checkout",
                    "status": self.checkout_status,
                    "request_id": str(ORDER),
                    "product": "prod_ten",
                    "order": self.order,
                }
            )
        if request.method == "POST" and request.path == "/v1/refunds":
            return web.json_response({"id": "ref_1", "status": "succeeded"})
        return web.json_response({"message": "Not Found"}, status=404)


ORDER = uuid.uuid4()


@pytest.fixture
async def creem(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[FakeCreem, CreemProvider]]:
    fake = FakeCreem()
    server: TestServer = await aiohttp_server(fake.app())
    made = provider(base=str(server.make_url("")).rstrip("/"))
    yield fake, made
    await made.close()


def checkout_request(amount: str = "10", key: str = "order-key") -> CheckoutRequest:
    return CheckoutRequest(
        order_id=ORDER,
        user_id=uuid.UUID(int=7),
        amount=Decimal(amount),
        amount_minor=int(Decimal(amount) * 100),
        currency="USD",
        success_url="https://tollgate.example/billing/topup/result?order=" + str(ORDER),
        cancel_url="https://tollgate.example/billing",
        idempotency_key=key,
    )


async def test_create_checkout_sends_the_product_and_the_order(
    creem: tuple[FakeCreem, CreemProvider],
) -> None:
    fake, made = creem
    checkout = await made.create_checkout(checkout_request())
    assert (checkout.provider_payment_id, checkout.checkout_url) == (
        "ch_new",
        "https://checkout.example/ch_new",
    )
    assert fake.requests == [
        (
            "POST",
            "/v1/checkouts",
            {},
            {
                "product_id": "prod_ten",
                "request_id": str(ORDER),
                "units": 1,
                "success_url": checkout_request().success_url,
                "metadata": {"order_id": str(ORDER), "user_id": str(uuid.UUID(int=7))},
            },
        )
    ]
    # The same key again: the same checkout, and Creem is not asked twice.
    assert await made.create_checkout(checkout_request()) == checkout
    assert len(fake.requests) == 1


async def test_an_amount_without_a_product_is_refused_before_any_call(
    creem: tuple[FakeCreem, CreemProvider],
) -> None:
    fake, made = creem
    with pytest.raises(ProviderRefused, match="top-ups of 10, 20 only") as refused:
        await made.create_checkout(checkout_request("15"))
    assert "15 has no product" in str(refused.value)
    assert fake.requests == []


async def test_a_product_priced_otherwise_is_refused(
    creem: tuple[FakeCreem, CreemProvider],
) -> None:
    fake, made = creem
    fake.product_price = 999
    with pytest.raises(ProviderRefused, match="fix CREEM_PRODUCTS"):
        await made.create_checkout(checkout_request())


async def test_creem_saying_no_or_failing(creem: tuple[FakeCreem, CreemProvider]) -> None:
    fake, made = creem
    fake.status = 400
    with pytest.raises(ProviderRefused, match=r"\(400\): product_id must be a string"):
        await made.create_checkout(checkout_request(key="a"))
    for status in (500, 502, 429):
        fake.status = status
        with pytest.raises(ProviderUnavailable, match=str(status)):
            await made.create_checkout(checkout_request(key=f"b{status}"))


async def test_creem_down_is_unavailable() -> None:
    made = provider(base="http://127.0.0.1:9")  # discard port: nothing listens
    try:
        with pytest.raises(ProviderUnavailable, match="could not be reached"):
            await made.create_checkout(checkout_request())
        with pytest.raises(ProviderUnavailable):
            await made.fetch_payment("ch_1")
    finally:
        await made.close()


async def test_fetch_payment_reads_the_checkout(creem: tuple[FakeCreem, CreemProvider]) -> None:
    fake, made = creem
    fake.checkout_status = "pending"
    state = await made.fetch_payment("ch_new")
    assert (state.status, state.amount_minor, state.order_id) == (
        PaymentStatus.PENDING,
        None,
        ORDER,
    )
    assert fake.requests[-1][:3] == ("GET", "/v1/checkouts", {"checkout_id": "ch_new"})
    fake.checkout_status = "completed"
    fake.order = {"status": "paid", "amount": 1000, "currency": "usd", "transaction": "tran_9"}
    state = await made.fetch_payment("ch_new")
    assert (state.status, state.amount_minor, state.currency, state.payment_reference) == (
        PaymentStatus.PAID,
        1000,
        "USD",
        "tran_9",
    )
    fake.checkout_status = "expired"
    fake.order = None
    assert (await made.fetch_payment("ch_new")).status is PaymentStatus.EXPIRED


def refund_request(amount_minor: int, reference: str | None = "tran_9") -> RefundRequest:
    return RefundRequest(
        provider_payment_id="ch_new",
        payment_reference=reference,
        amount_minor=amount_minor,
        currency="USD",
        idempotency_key=f"refund-{amount_minor}-{reference}",
        reason="requested by the user",
    )


async def test_a_whole_refund_goes_through_creems_api(
    creem: tuple[FakeCreem, CreemProvider],
) -> None:
    fake, made = creem
    fake.order = {"status": "paid", "amount": 1000, "currency": "USD", "transaction": "tran_9"}
    refund = await made.refund(refund_request(1000, reference=None))
    assert (refund.refund_id, refund.status) == ("ref_1", RefundStatus.SUCCEEDED)
    assert fake.requests[-1] == ("POST", "/v1/refunds", {}, {"transaction_id": "tran_9"})
    calls = len(fake.requests)
    assert await made.refund(refund_request(1000, reference=None)) == refund  # same key
    assert len(fake.requests) == calls


async def test_a_partial_refund_is_refused_and_nothing_is_refunded(
    creem: tuple[FakeCreem, CreemProvider],
) -> None:
    fake, made = creem
    fake.order = {"status": "paid", "amount": 1000, "currency": "USD", "transaction": "tran_9"}
    with pytest.raises(ProviderRefused, match="refunds only a whole payment"):
        await made.refund(refund_request(400))
    assert [r for r in fake.requests if r[1] == "/v1/refunds"] == []
    fake.checkout_status = "pending"
    fake.order = None
    with pytest.raises(ProviderRefused, match="not show checkout ch_new as paid"):
        await made.refund(refund_request(1000))
