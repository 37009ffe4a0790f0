"""The Stripe subset, under `/stripe` (so STRIPE_API_BASE is `<mock>/stripe`).

As Stripe's API reference documents it: form-encoded requests with nested
keys (`line_items[0][price_data][unit_amount]=500`), bearer (or basic) auth
with the secret key, `Idempotency-Key` (same key and parameters: the same
object again, with `Idempotent-Replayed: true`; same key, other parameters:
an `idempotency_error`), errors as `{"error": {"type", "message", "param",
"code"}}`, unknown parameters refused, lists as `{"object": "list", ...}`.

    POST /v1/checkout/sessions                 mode=payment with price_data line items
    GET  /v1/checkout/sessions/{id}            expand[]=line_items, payment_intent
    GET  /v1/checkout/sessions/{id}/line_items
    POST /v1/checkout/sessions/{id}/expire     open sessions only
    GET  /v1/payment_intents/{id}, /v1/charges/{id}, /v1/refunds/{id},
         /v1/disputes/{id}, /v1/events/{id}
    POST /v1/refunds                           payment_intent or charge, amount, reason
    GET  /v1/events                            type (with *), types[], created[gte|gt|lte|lt],
                                               delivery_success, limit, starting_after,
                                               ending_before; newest first

The buyer's side (the hosted page, or the control API) moves a session:
paid at once (`checkout.session.completed`, payment_status paid), or by a
method that settles later (completed with payment_status unpaid, then
`checkout.session.async_payment_succeeded` or `_failed`). Refunds post
`charge.refunded` (the charge, amount_refunded the total so far); disputes
`charge.dispute.created` and `charge.dispute.closed` (status won or lost);
expiry `checkout.session.expired`.
"""

from __future__ import annotations

import asyncio
import copy
import re
import secrets
import string
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from services.mockpayments.webhooks import ApiFault, Clock, Outbox

API_VERSION = "2025-08-27.basil"
MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 3600
DEFAULT_EXPIRY = 24 * 3600
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx"}
SESSION_PARAMS = {
    "mode",
    "success_url",
    "cancel_url",
    "line_items",
    "client_reference_id",
    "metadata",
    "expires_at",
    "customer_email",
    "payment_intent_data",
    "payment_method_types",
    "expand",
    "locale",
    "submit_type",
    "customer_creation",
    "allow_promotion_codes",
    "billing_address_collection",
    "ui_mode",
}
REFUND_PARAMS = {"payment_intent", "charge", "amount", "reason", "metadata", "expand"}
REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return f"{prefix}_test_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if param is not None:
            self.body["param"] = param
        if code is not None:
            self.body["code"] = code

    def response(self) -> web.Response:
        return json_response({"error": self.body}, self.status)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers={"Request-Id": "req_" + secrets.token_hex(7), **(headers or {})},
    )


def missing(kind: str, ident: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{ident}'", param=param, code="resource_missing")


# -- form encoding ---------------------------------------------------------

_KEY = re.compile(r"\[([^\]]*)\]")


def nested(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding to nested values: `a[b][0][c]=1` and `e[]=x`."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *_KEY.findall(key[len(head) :])]
        node = root
        for depth, part in enumerate(path):
            if part == "":
                part = str(len(node))
            last = depth == len(path) - 1
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(400, f"Invalid value for {key}", param=head)
                node = child
    result: dict[str, Any] = _lists(root)
    return result


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _lists(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _integer(value: Any, param: str, *, low: int = 0) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise StripeError(400, f"Invalid integer: {value}", param=param) from None
    if number < low:
        raise StripeError(400, f"This value must be greater than or equal to {low}.", param=param)
    return number


def _metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid object", param=param)
    if len(value) > 50:
        raise StripeError(400, "You can specify up to 50 keys in metadata.", param=param)
    for key, item in value.items():
        if not isinstance(item, str) or len(item) > 500 or len(key) > 40:
            raise StripeError(400, f"Invalid metadata value for {key}", param=f"{param}[{key}]")
    return dict(value)


def _unknown(params: dict[str, Any], known: set[str]) -> None:
    for name in params:
        if name not in known:
            raise StripeError(400, f"Received unknown parameter: {name}", param=name)


# -- the store -------------------------------------------------------------


class StripeMock:
    def __init__(self, *, secret_key: str, outbox: Outbox, clock: Clock, public_url: str) -> None:
        self.secret_key = secret_key
        self.outbox = outbox
        self.clock = clock
        self.public_url = public_url
        self.sessions: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._idempotent: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        self.api_faults: list[ApiFault] = []

    def reset(self) -> None:
        self.sessions.clear()
        self.line_items.clear()
        self.intents.clear()
        self.charges.clear()
        self.refunds.clear()
        self.disputes.clear()
        self._idempotent.clear()
        self.events.clear()
        self.api_faults.clear()

    def now(self) -> int:
        return int(self.clock.now())

    # -- events --

    def emit(self, event_type: str, obj: dict[str, Any], idempotency_key: str | None) -> None:
        event_id = new_id("evt").replace("evt_test_", "evt_")
        event: dict[str, Any] = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1 if self.outbox.url else 0,
            "request": {"id": "req_" + secrets.token_hex(7), "idempotency_key": idempotency_key},
            "type": event_type,
        }
        self.events.append(event)
        self.outbox.emit(event_id, event_type, orjson.dumps(event))

    def event_view(self, event: dict[str, Any]) -> dict[str, Any]:
        view = dict(event)
        view["pending_webhooks"] = 1 if self.outbox.pending(event["id"]) else 0
        return view

    # -- checkout sessions --

    def create_session(
        self, params: dict[str, Any], origin: str, key: str | None
    ) -> dict[str, Any]:
        _unknown(params, SESSION_PARAMS)
        mode = params.get("mode")
        if mode is None:
            raise StripeError(400, "Missing required param: mode.", param="mode")
        if mode != "payment":
            raise StripeError(400, f"The mock supports mode=payment only, not {mode}", param="mode")
        if params.get("ui_mode", "hosted") != "hosted":
            raise StripeError(400, "The mock supports ui_mode=hosted only", param="ui_mode")
        success_url = params.get("success_url")
        if not success_url:
            raise StripeError(400, "Missing required param: success_url.", param="success_url")
        for name in ("success_url", "cancel_url"):
            value = params.get(name)
            if value is not None and not re.match(r"^https?://[^/\s]+", str(value)):
                raise StripeError(400, "Not a valid URL", param=name)
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(
                400,
                "You must provide line_items when using mode=payment.",
                param="line_items",
            )
        lines, currency, total = [], None, 0
        for n, item in enumerate(items):
            lines.append(self._line_item(item, n))
            if currency not in (None, lines[-1]["currency"]):
                raise StripeError(
                    400, "All line items must use the same currency.", param="line_items"
                )
            currency = lines[-1]["currency"]
            total += lines[-1]["amount_total"]
        assert currency is not None
        if currency in {"usd", "eur"} and total < 50:
            raise StripeError(
                400,
                "The Checkout Session's total amount due must add up to at least $0.50 usd",
                param="line_items",
                code="amount_too_small",
            )
        now = self.now()
        expires_at = now + DEFAULT_EXPIRY
        if params.get("expires_at") is not None:
            expires_at = _integer(params["expires_at"], "expires_at")
            if not MIN_EXPIRY <= expires_at - now <= MAX_EXPIRY:
                raise StripeError(
                    400,
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours "
                    "from Checkout Session creation.",
                    param="expires_at",
                )
        intent_data = params.get("payment_intent_data") or {}
        if not isinstance(intent_data, dict):
            raise StripeError(400, "Invalid object", param="payment_intent_data")
        session_id = new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": _metadata(params.get("metadata")),
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self.public_url or origin}/stripe/pay/{session_id}",
        }
        session["_intent_metadata"] = _metadata(
            intent_data.get("metadata"), "payment_intent_data[metadata]"
        )
        self.sessions[session_id] = session
        self.line_items[session_id] = lines
        return session

    def _line_item(self, item: Any, n: int) -> dict[str, Any]:
        param = f"line_items[{n}]"
        if not isinstance(item, dict):
            raise StripeError(400, "Invalid object", param=param)
        if "price" in item:
            raise StripeError(
                404,
                f"No such price: '{item['price']}'",
                param=f"{param}[price]",
                code="resource_missing",
            )
        data = item.get("price_data")
        if not isinstance(data, dict):
            raise StripeError(400, "You must specify either `price` or `price_data`.", param=param)
        currency = str(data.get("currency", "")).lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeError(400, "Invalid currency", param=f"{param}[price_data][currency]")
        if "unit_amount" not in data:
            raise StripeError(
                400,
                "Missing required param: unit_amount.",
                param=f"{param}[price_data][unit_amount]",
            )
        unit = _integer(data["unit_amount"], f"{param}[price_data][unit_amount]")
        if unit > 99_999_999:
            raise StripeError(400, "Amount is too large", param=f"{param}[price_data][unit_amount]")
        quantity = _integer(item.get("quantity", ""), f"{param}[quantity]", low=1)
        product = data.get("product_data") or {}
        name = product.get("name") if isinstance(product, dict) else None
        if not name:
            raise StripeError(
                400,
                "Missing required param: product_data[name].",
                param=f"{param}[price_data][product_data][name]",
            )
        return {
            "id": new_id("li"),
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": unit * quantity,
            "amount_tax": 0,
            "amount_total": unit * quantity,
            "currency": currency,
            "description": name,
            "price": {
                "id": new_id("price"),
                "object": "price",
                "currency": currency,
                "unit_amount": unit,
                "product": new_id("prod"),
                "type": "one_time",
            },
            "quantity": quantity,
        }

    def session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise missing("checkout.session", session_id, "session")
        return session

    def public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def expand(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        view = self.public(obj)
        for path in paths:
            head, _, rest = path.partition(".")
            if head == "line_items" and view.get("object") == "checkout.session":
                view["line_items"] = {
                    "object": "list",
                    "data": copy.deepcopy(self.line_items.get(view["id"], [])),
                    "has_more": False,
                    "url": f"/v1/checkout/sessions/{view['id']}/line_items",
                }
                continue
            linked = view.get(head)
            if isinstance(linked, str):
                target = self._find(linked)
                if target is None:
                    raise StripeError(
                        400, f"This property cannot be expanded ({path}).", param="expand"
                    )
                view[head] = self.expand(target, [rest] if rest else [])
        return view

    def _find(self, ident: str) -> dict[str, Any] | None:
        for table in (self.sessions, self.intents, self.charges, self.refunds, self.disputes):
            if ident in table:
                return table[ident]
        return None

    def expire(self, session_id: str, key: str | None) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise StripeError(
                400, 'Only Checkout Sessions with a status in ["open"] can be expired.'
            )
        session["status"] = "expired"
        self.emit("checkout.session.expired", self.public(session), key)
        return session

    def expire_due(self) -> None:
        now = self.now()
        for session in list(self.sessions.values()):
            if session["status"] == "open" and session["expires_at"] <= now:
                self.expire(session["id"], None)

    # -- the buyer's side --

    def pay(
        self, session_id: str, *, later: bool = False, email: str = "buyer@example.com"
    ) -> dict[str, Any]:
        """The buyer pays on the hosted page: at once, or by a method that settles later."""
        session = self.session(session_id)
        if session["status"] == "open" and session["expires_at"] <= self.now():
            self.expire(session_id, None)
        if session["status"] != "open":
            raise StripeError(400, f"This Checkout Session is {session['status']}.")
        intent_id = new_id("pi").replace("pi_test_", "pi_")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "currency": session["currency"],
            "created": self.now(),
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(session["_intent_metadata"]),
            "payment_method_types": list(session["payment_method_types"]),
            "status": "processing" if later else "requires_payment_method",
        }
        self.intents[intent_id] = intent
        session.update(
            status="complete",
            payment_intent=intent_id,
            customer_details={"email": session["customer_email"] or email, "name": "Test Buyer"},
        )
        if not later:
            self._succeed(intent)
            session["payment_status"] = "paid"
        self.emit("checkout.session.completed", self.public(session), None)
        return session

    def _succeed(self, intent: dict[str, Any]) -> None:
        charge_id = new_id("ch").replace("ch_test_", "ch_")
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "captured": True,
            "created": self.now(),
            "currency": intent["currency"],
            "disputed": False,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "paid": True,
            "payment_intent": intent["id"],
            "refunded": False,
            "status": "succeeded",
        }
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge_id)

    def settle(self, session_id: str, succeeded: bool) -> dict[str, Any]:
        """A payment that settles later succeeds or fails."""
        session = self.session(session_id)
        intent = self.intents.get(session.get("payment_intent") or "")
        if session["status"] != "complete" or intent is None or intent["status"] != "processing":
            raise StripeError(400, "This Checkout Session has no payment waiting to settle.")
        if succeeded:
            self._succeed(intent)
            session["payment_status"] = "paid"
            self.emit("checkout.session.async_payment_succeeded", self.public(session), None)
        else:
            intent["status"] = "requires_payment_method"
            self.emit("checkout.session.async_payment_failed", self.public(session), None)
        return session

    def charge_of(self, ident: str) -> dict[str, Any]:
        """The charge of a session, payment intent or charge id."""
        if ident in self.sessions:
            ident = self.sessions[ident].get("payment_intent") or ""
        if ident in self.intents:
            ident = self.intents[ident].get("latest_charge") or ""
        charge = self.charges.get(ident)
        if charge is None:
            raise StripeError(400, "This payment has no succeeded charge.", code="charge_not_found")
        return charge

    # -- refunds and disputes --

    def refund(self, params: dict[str, Any], key: str | None) -> dict[str, Any]:
        _unknown(params, REFUND_PARAMS)
        if params.get("charge"):
            if params["charge"] not in self.charges:
                raise missing("charge", params["charge"], "charge")
            charge = self.charges[params["charge"]]
        elif params.get("payment_intent"):
            if params["payment_intent"] not in self.intents:
                raise missing("payment_intent", params["payment_intent"], "payment_intent")
            charge = self.charge_of(params["payment_intent"])
        else:
            raise StripeError(400, "One of `charge` or `payment_intent` is required.")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining == 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = remaining
        if params.get("amount") is not None:
            amount = _integer(params["amount"], "amount", low=1)
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                param="amount",
                code="amount_too_large",
            )
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeError(400, f"Invalid reason: {reason}", param="reason")
        refund_id = new_id("re").replace("re_test_", "re_")
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "metadata": _metadata(params.get("metadata")),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
        }
        self.refunds[refund_id] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.emit("charge.refunded", charge, key)
        return refund

    def open_dispute(self, ident: str, amount: int | None, reason: str) -> dict[str, Any]:
        charge = self.charge_of(ident)
        dispute_id = new_id("dp").replace("dp_test_", "dp_")
        dispute = {
            "id": dispute_id,
            "object": "dispute",
            "amount": charge["amount"] if amount is None else amount,
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "evidence": {},
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "needs_response",
        }
        self.disputes[dispute_id] = dispute
        charge["disputed"] = True
        self.emit("charge.dispute.created", dispute, None)
        return dispute

    def close_dispute(self, dispute_id: str, won: bool) -> dict[str, Any]:
        dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise missing("dispute", dispute_id)
        if dispute["status"] in {"won", "lost"}:
            raise StripeError(400, f"Dispute {dispute_id} is already closed.")
        dispute["status"] = "won" if won else "lost"
        self.emit("charge.dispute.closed", dispute, None)
        return dispute

    # -- events listing --

    def list_events(self, query: dict[str, Any]) -> dict[str, Any]:
        _unknown(
            query,
            {
                "type",
                "types",
                "created",
                "delivery_success",
                "limit",
                "starting_after",
                "ending_before",
                "expand",
            },
        )
        if "type" in query and "types" in query:
            raise StripeError(400, "You may pass either `type` or `types`, but not both.")
        limit = _integer(query.get("limit", 10), "limit", low=1)
        if limit > 100:
            raise StripeError(400, "This value must be less than or equal to 100.", param="limit")
        events = list(reversed(self.events))  # newest first
        if "type" in query:
            pattern = re.compile(
                "^" + ".*".join(re.escape(p) for p in str(query["type"]).split("*")) + "$"
            )
            events = [e for e in events if pattern.match(e["type"])]
        if "types" in query:
            wanted = query["types"] if isinstance(query["types"], list) else [query["types"]]
            events = [e for e in events if e["type"] in wanted]
        created = query.get("created")
        if isinstance(created, dict):
            bounds = {k: _integer(v, f"created[{k}]") for k, v in created.items()}
            checks = {
                "gt": lambda t, b: t > b,
                "gte": lambda t, b: t >= b,
                "lt": lambda t, b: t < b,
                "lte": lambda t, b: t <= b,
            }
            for name, bound in bounds.items():
                if name not in checks:
                    raise StripeError(400, f"Received unknown parameter: created[{name}]")
                events = [e for e in events if checks[name](e["created"], bound)]
        elif created is not None:
            moment = _integer(created, "created")
            events = [e for e in events if e["created"] == moment]
        if "delivery_success" in query:
            wanted_ok = str(query["delivery_success"]).lower() == "true"
            events = [e for e in events if self.outbox.delivered(e["id"]) == wanted_ok]
        ids = [e["id"] for e in events]
        if query.get("starting_after"):
            after = query["starting_after"]
            if after not in ids:
                raise missing("event", after, "starting_after")
            events = events[ids.index(after) + 1 :]
        elif query.get("ending_before"):
            before = query["ending_before"]
            if before not in ids:
                raise missing("event", before, "ending_before")
            events = events[: ids.index(before)][-limit:]
        page = events[:limit]
        return {
            "object": "list",
            "data": [self.event_view(e) for e in page],
            "has_more": len(events) > limit,
            "url": "/v1/events",
        }


# -- HTTP ------------------------------------------------------------------

MOCK_KEY: web.AppKey[StripeMock] = web.AppKey("stripe_mock", StripeMock)


def _authenticate(request: web.Request, mock: StripeMock) -> None:
    header = request.headers.get("Authorization", "")
    key = ""
    if header.lower().startswith("bearer "):
        key = header[7:].strip()
    elif header.lower().startswith("basic "):
        import base64
        import binascii

        try:
            key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if not secrets.compare_digest(key, mock.secret_key):
        shown = f"{key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}" if len(key) > 12 else "****"
        raise StripeError(401, f"Invalid API Key provided: {shown}")


async def _params(request: web.Request) -> dict[str, Any]:
    if request.method == "GET":
        return nested(request.query.items())
    form = await request.post()
    return nested((k, v) for k, v in form.items() if isinstance(v, str))


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


def _expansions(params: dict[str, Any]) -> list[str]:
    raw = params.pop("expand", [])
    return [str(x) for x in (raw if isinstance(raw, list) else [raw])]


def handler(action: Any) -> Any:
    """Auth, Stripe's errors, and Idempotency-Key for POSTs around `action`."""

    async def wrapped(request: web.Request) -> web.Response:
        mock = request.app[MOCK_KEY]
        try:
            _authenticate(request, mock)
            fault = mock.api_faults.pop(0) if mock.api_faults else ApiFault()
            if fault.status is not None:
                await asyncio.sleep(fault.delay)
                raise StripeError(
                    fault.status,
                    "An error occurred with our connection to Stripe. (mock fault)",
                    type_="api_error",
                )
            params = await _params(request)
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            if key:
                seen = mock._idempotent.get(key)
                if seen is not None:
                    path, sent, body = seen
                    if path != request.path or sent != params:
                        raise StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                            type_="idempotency_error",
                        )
                    return json_response(body, headers={"Idempotent-Replayed": "true"})
            body = action(mock, request, copy.deepcopy(params), key)
            if key:
                mock._idempotent[key] = (request.path, params, body)
            if fault.pay_first and body.get("object") == "checkout.session":
                mock.pay(body["id"])
            await asyncio.sleep(fault.delay)
            return json_response(body, headers={"Idempotency-Key": key} if key else None)
        except StripeError as exc:
            return exc.response()

    return wrapped


def _create_session(
    mock: StripeMock, request: web.Request, params: dict[str, Any], key: str | None
) -> dict[str, Any]:
    expand = _expansions(params)
    session = mock.create_session(params, _origin(request), key)
    return mock.expand(session, expand)


def _get_session(
    mock: StripeMock, request: web.Request, params: dict[str, Any], key: str | None
) -> dict[str, Any]:
    expand = _expansions(params)
    _unknown(params, set())
    mock.expire_due()
    return mock.expand(mock.session(request.match_info["id"]), expand)


def _session_line_items(
    mock: StripeMock, request: web.Request, params: dict[str, Any], key: str | None
) -> dict[str, Any]:
    _expansions(params)
    _unknown(params, {"limit", "starting_after", "ending_before"})
    session = mock.session(request.match_info["id"])
    listed: dict[str, Any] = mock.expand(session, ["line_items"])["line_items"]
    return listed


def _expire_session(
    mock: StripeMock, request: web.Request, params: dict[str, Any], key: str | None
) -> dict[str, Any]:
    expand = _expansions(params)
    _unknown(params, set())
    return mock.expand(mock.expire(request.match_info["id"], key), expand)


def _create_refund(
    mock: StripeMock, request: web.Request, params: dict[str, Any], key: str | None
) -> dict[str, Any]:
    expand = _expansions(params)
    return mock.expand(mock.refund(params, key), expand)


def _list_events(
    mock: StripeMock, request: web.Request, params: dict[str, Any], key: str | None
) -> dict[str, Any]:
    return mock.list_events(params)


def _retrieve(kind: str, table: str) -> Any:
    def action(
        mock: StripeMock, request: web.Request, params: dict[str, Any], key: str | None
    ) -> dict[str, Any]:
        expand = _expansions(params)
        _unknown(params, set())
        ident = request.match_info["id"]
        if table == "events":
            for event in mock.events:
                if event["id"] == ident:
                    return mock.event_view(event)
            raise missing(kind, ident)
        found: dict[str, dict[str, Any]] = getattr(mock, table)
        if ident not in found:
            raise missing(kind, ident)
        return mock.expand(found[ident], expand)

    return action


def add_routes(app: web.Application, mock: StripeMock) -> None:
    app[MOCK_KEY] = mock
    r = app.router
    r.add_post("/stripe/v1/checkout/sessions", handler(_create_session))
    r.add_get("/stripe/v1/checkout/sessions/{id}", handler(_get_session))
    r.add_get("/stripe/v1/checkout/sessions/{id}/line_items", handler(_session_line_items))
    r.add_post("/stripe/v1/checkout/sessions/{id}/expire", handler(_expire_session))
    r.add_post("/stripe/v1/refunds", handler(_create_refund))
    r.add_get("/stripe/v1/events", handler(_list_events))
    for path, kind, table in (
        ("payment_intents", "payment_intent", "intents"),
        ("charges", "charge", "charges"),
        ("refunds", "refund", "refunds"),
        ("disputes", "dispute", "disputes"),
        ("events", "event", "events"),
    ):
        r.add_get(f"/stripe/v1/{path}/{{id}}", handler(_retrieve(kind, table)))
