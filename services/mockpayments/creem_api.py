"""The Creem subset, under `/creem` (so CREEM_API_BASE is `<mock>/creem`).

As Creem's API reference documents it: JSON bodies, the `x-api-key` header
(a missing or wrong key: 403), errors as `{"trace_id", "status", "error",
"message": [...], "timestamp"}`, products known in advance (a price each).

    POST /v1/checkouts                 product_id (required), request_id, units,
                                       metadata, success_url, customer.email
    GET  /v1/checkouts?checkout_id=    the checkout: status pending, completed or
                                       expired; once paid, its order (with the
                                       transaction id) and customer
    POST /v1/refunds                   transaction_id: a full refund (the
                                       documented API refunds in full)

Webhook events, in the documented envelope `{"id", "eventType",
"created_at" (ms), "object"}`: `checkout.completed` (the checkout with its
order, product and customer), `refund.created` (refund_amount,
refund_currency, transaction), `dispute.created` (amount, currency,
transaction). After paying, the buyer is sent to success_url with
checkout_id, order_id, customer_id, product_id, request_id and `signature`
(HMAC-SHA256 with the API key over the sorted non-null parameters).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import string
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson
from aiohttp import web

from services.mockpayments.settings import Product
from services.mockpayments.webhooks import ApiFault, Clock, Outbox

_ALPHABET = string.ascii_letters + string.digits
CHECKOUT_FIELDS = {
    "product_id",
    "request_id",
    "units",
    "discount_code",
    "customer",
    "custom_fields",
    "custom_field",
    "success_url",
    "metadata",
}


def new_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


class CreemError(Exception):
    def __init__(self, status: int, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.messages = messages

    def response(self, clock: Clock) -> web.Response:
        body: dict[str, Any] = {
            "trace_id": str(uuid.uuid4()),
            "status": self.status,
            "error": self.error,
            "timestamp": int(clock.now() * 1000),
        }
        if self.messages is not None:
            body["message"] = self.messages
        return web.Response(
            body=orjson.dumps(body), status=self.status, content_type="application/json"
        )


def bad_request(*messages: str) -> CreemError:
    return CreemError(400, "Bad Request", list(messages))


def not_found(message: str) -> CreemError:
    return CreemError(404, "Not Found", [message])


def redirect_signature(params: dict[str, str | None], api_key: str) -> str:
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v is not None)
    return hmac.new(api_key.encode(), text.encode(), hashlib.sha256).hexdigest()


class CreemMock:
    def __init__(
        self,
        *,
        api_key: str,
        products: dict[str, Product],
        outbox: Outbox,
        clock: Clock,
        public_url: str,
    ) -> None:
        self.api_key = api_key
        self.products = products
        self.outbox = outbox
        self.clock = clock
        self.public_url = public_url
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.api_faults: list[ApiFault] = []

    def reset(self) -> None:
        self.api_faults.clear()
        self.checkouts.clear()
        self.transactions.clear()
        self.refunds.clear()
        self.events.clear()

    def iso(self) -> str:
        moment = datetime.fromtimestamp(self.clock.now(), UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def ms(self) -> int:
        return int(self.clock.now() * 1000)

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event_id = new_id("evt")
        event: dict[str, Any] = {
            "id": event_id,
            "eventType": event_type,
            "created_at": self.ms(),
            "object": obj,
        }
        self.events.append(event)
        self.outbox.emit(event_id, event_type, orjson.dumps(event))
        return event

    def product_json(self, product: Product) -> dict[str, Any]:
        return {
            "id": product.product_id,
            "mode": "test",
            "object": "product",
            "name": product.name,
            "description": product.name,
            "price": product.price,
            "currency": product.currency,
            "billing_type": "onetime",
            "billing_period": "once",
            "status": "active",
            "tax_mode": "exclusive",
            "tax_category": "saas",
            "default_success_url": None,
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
        }

    def checkout_json(self, checkout: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in checkout.items() if not k.startswith("_")}

    # -- API --

    def create_checkout(self, body: Any, origin: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("The body must be a JSON object.")
        unknown = sorted(set(body) - CHECKOUT_FIELDS)
        if unknown:
            raise bad_request(*(f"property {name} should not exist" for name in unknown))
        product_id = body.get("product_id")
        if not isinstance(product_id, str) or not product_id:
            raise bad_request("product_id must be a string")
        product = self.products.get(product_id)
        if product is None:
            raise not_found("Product not found")
        units = body.get("units", 1)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise bad_request("units must be a positive number")
        for name in ("request_id", "success_url"):
            if body.get(name) is not None and not isinstance(body[name], str):
                raise bad_request(f"{name} must be a string")
        success_url = body.get("success_url")
        if success_url and urlsplit(success_url).scheme not in {"http", "https"}:
            raise bad_request("success_url must be a valid URL")
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise bad_request("metadata must be an object")
        customer = body.get("customer") or {}
        if not isinstance(customer, dict):
            raise bad_request("customer must be an object")
        checkout_id = new_id("ch")
        checkout: dict[str, Any] = {
            "id": checkout_id,
            "mode": "test",
            "object": "checkout",
            "status": "pending",
            "request_id": body.get("request_id"),
            "product": self.product_json(product),
            "units": units,
            "custom_fields": [],
            "checkout_url": f"{self.public_url or origin}/creem/pay/{checkout_id}",
            "success_url": success_url,
            "metadata": metadata,
            "_email": customer.get("email"),
        }
        self.checkouts[checkout_id] = checkout
        return checkout

    def checkout(self, checkout_id: str) -> dict[str, Any]:
        checkout = self.checkouts.get(checkout_id)
        if checkout is None:
            raise not_found("Checkout not found")
        return checkout

    def pay(self, checkout_id: str, email: str = "buyer@example.com") -> dict[str, Any]:
        checkout = self.checkout(checkout_id)
        if checkout["status"] != "pending":
            raise bad_request(f"This checkout is {checkout['status']}.")
        product = checkout["product"]
        amount = product["price"] * checkout["units"]
        now = self.iso()
        customer = {
            "id": new_id("cust"),
            "object": "customer",
            "email": checkout["_email"] or email,
            "name": "Test Buyer",
            "country": "NL",
            "created_at": now,
            "updated_at": now,
            "mode": "test",
        }
        transaction_id, order_id = new_id("tran"), new_id("ord")
        order = {
            "id": order_id,
            "object": "order",
            "customer": customer["id"],
            "product": product["id"],
            "transaction": transaction_id,
            "amount": amount,
            "sub_total": amount,
            "tax_amount": 0,
            "amount_due": 0,
            "amount_paid": amount,
            "currency": product["currency"],
            "status": "paid",
            "type": "onetime",
            "created_at": now,
            "updated_at": now,
            "mode": "test",
        }
        self.transactions[transaction_id] = {
            "id": transaction_id,
            "object": "transaction",
            "amount": amount,
            "amount_paid": amount,
            "currency": product["currency"],
            "type": "payment",
            "status": "paid",
            "refunded_amount": 0,
            "order": order_id,
            "customer": customer["id"],
            "created_at": self.ms(),
            "mode": "test",
            "_checkout": checkout_id,
        }
        checkout.update(status="completed", order=order, customer=customer)
        self.emit("checkout.completed", self.checkout_json(checkout))
        return checkout

    def success_redirect(self, checkout: dict[str, Any]) -> str | None:
        url = checkout.get("success_url")
        if not isinstance(url, str) or not url:
            return None
        params: dict[str, str | None] = {
            "checkout_id": checkout["id"],
            "order_id": checkout["order"]["id"],
            "customer_id": checkout["customer"]["id"],
            "product_id": checkout["product"]["id"],
            "request_id": checkout.get("request_id"),
        }
        params["signature"] = redirect_signature(params, self.api_key)
        parts = urlsplit(url)
        query = urlencode({k: v for k, v in params.items() if v is not None})
        joined = f"{parts.query}&{query}" if parts.query else query
        return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))

    def transaction_of(self, ident: str) -> dict[str, Any]:
        if ident in self.checkouts:
            order = self.checkouts[ident].get("order")
            ident = order["transaction"] if order else ""
        transaction = self.transactions.get(ident)
        if transaction is None:
            raise not_found("Transaction not found")
        return transaction

    def refund(self, ident: str, amount: int | None = None) -> dict[str, Any]:
        transaction = self.transaction_of(ident)
        remaining = transaction["amount_paid"] - transaction["refunded_amount"]
        if remaining <= 0:
            raise bad_request("This transaction has already been refunded.")
        amount = remaining if amount is None else amount
        if not 0 < amount <= remaining:
            raise bad_request(f"The refund amount must be between 1 and {remaining}.")
        transaction["refunded_amount"] += amount
        full = transaction["refunded_amount"] == transaction["amount_paid"]
        transaction["status"] = "refunded" if full else "partialRefund"
        checkout = self.checkouts[transaction["_checkout"]]
        refund = {
            "id": new_id("ref"),
            "object": "refund",
            "status": "succeeded",
            "refund_amount": amount,
            "refund_currency": transaction["currency"],
            "reason": "requested_by_customer",
            "transaction": self._public(transaction),
            "customer": {"id": checkout["customer"]["id"], "email": checkout["customer"]["email"]},
            "created_at": self.ms(),
            "mode": "test",
        }
        self.refunds[refund["id"]] = refund
        self.emit("refund.created", refund)
        return refund

    def dispute(self, ident: str, amount: int | None = None) -> dict[str, Any]:
        transaction = self.transaction_of(ident)
        transaction["status"] = "chargedBack"
        checkout = self.checkouts[transaction["_checkout"]]
        dispute = {
            "id": new_id("disp"),
            "object": "dispute",
            "amount": transaction["amount_paid"] if amount is None else amount,
            "currency": transaction["currency"],
            "transaction": self._public(transaction),
            "customer": {"id": checkout["customer"]["id"], "email": checkout["customer"]["email"]},
            "created_at": self.ms(),
            "mode": "test",
        }
        self.emit("dispute.created", dispute)
        return dispute

    def expire(self, checkout_id: str) -> dict[str, Any]:
        checkout = self.checkout(checkout_id)
        if checkout["status"] != "pending":
            raise bad_request(f"This checkout is {checkout['status']}.")
        checkout["status"] = "expired"
        return checkout

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}


MOCK_KEY: web.AppKey[CreemMock] = web.AppKey("creem_mock", CreemMock)


async def _authenticate(request: web.Request, mock: CreemMock) -> ApiFault:
    """The key checked, then the next API fault a test asked for (an error
    status is answered at once, after its delay)."""
    key = request.headers.get("x-api-key", "")
    if not key or not secrets.compare_digest(key, mock.api_key):
        raise CreemError(403, "Forbidden")
    fault = mock.api_faults.pop(0) if mock.api_faults else ApiFault()
    if fault.status is not None:
        await asyncio.sleep(fault.delay)
        raise CreemError(fault.status, "Internal Server Error" if fault.status >= 500 else "Error")
    return fault


async def _json(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise bad_request("The body must be valid JSON.") from None


async def create_checkout(request: web.Request) -> web.Response:
    mock = request.app[MOCK_KEY]
    try:
        fault = await _authenticate(request, mock)
        checkout = mock.create_checkout(await _json(request), str(request.url.origin()))
        if fault.pay_first:
            mock.pay(checkout["id"])
        await asyncio.sleep(fault.delay)
        return web.json_response(mock.checkout_json(checkout), dumps=_dumps)
    except CreemError as exc:
        return exc.response(mock.clock)


async def get_checkout(request: web.Request) -> web.Response:
    mock = request.app[MOCK_KEY]
    try:
        fault = await _authenticate(request, mock)
        await asyncio.sleep(fault.delay)
        checkout_id = request.query.get("checkout_id")
        if not checkout_id:
            raise bad_request("checkout_id must be a string")
        return web.json_response(mock.checkout_json(mock.checkout(checkout_id)), dumps=_dumps)
    except CreemError as exc:
        return exc.response(mock.clock)


async def create_refund(request: web.Request) -> web.Response:
    mock = request.app[MOCK_KEY]
    try:
        fault = await _authenticate(request, mock)
        await asyncio.sleep(fault.delay)
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("transaction_id"), str):
            raise bad_request("transaction_id must be a string")
        if body["transaction_id"] not in mock.transactions:
            raise not_found("Transaction not found")
        return web.json_response(mock.refund(body["transaction_id"]), dumps=_dumps)
    except CreemError as exc:
        return exc.response(mock.clock)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def add_routes(app: web.Application, mock: CreemMock) -> None:
    app[MOCK_KEY] = mock
    app.router.add_post("/creem/v1/checkouts", create_checkout)
    app.router.add_get("/creem/v1/checkouts", get_checkout)
    app.router.add_post("/creem/v1/refunds", create_refund)
