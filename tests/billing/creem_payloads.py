"""Creem's webhook bodies as its documentation shows them (docs.creem.io,
learn/webhooks/event-types and the creem-api skill's WEBHOOKS reference),
trimmed of fields nothing reads, with our order id where Creem's example has
"my-request-id". Each function returns a fresh dict to change in a test."""

from __future__ import annotations

import json
import uuid
from typing import Any

from services.billing.payments.creem_wire import sign

SECRET = "whsec_creem_test_secret"


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def signed(event: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = body_of(event)
    return body, {"creem-signature": sign(body, secret), "content-type": "application/json"}


def checkout_completed(order_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": "evt_5WHHcZPv7VS0YUsberIuOz",
        "eventType": "checkout.completed",
        "created_at": 1728734325927,
        "object": {
            "id": "ch_4l0N34kxo16AhRKUHFUuXr",
            "object": "checkout",
            "request_id": str(order_id),
            "order": {
                "id": "ord_4aDwWXjMLpes4Kj4XqNnUA",
                "customer": "cust_1OcIK1GEuVvXZwD19tjq2z",
                "product": "prod_d1AY2Sadk9YAvLI0pj97f",
                "amount": 1000,
                "currency": "EUR",
                "status": "paid",
                "type": "recurring",
                "created_at": "2024-10-12T11:58:33.097Z",
                "updated_at": "2024-10-12T11:58:33.097Z",
                "mode": "local",
            },
            "product": {
                "id": "prod_d1AY2Sadk9YAvLI0pj97f",
                "name": "Monthly",
                "price": 1000,
                "currency": "EUR",
                "billing_type": "recurring",
                "billing_period": "every-month",
                "status": "active",
                "tax_mode": "exclusive",
                "tax_category": "saas",
            },
            "customer": {
                "id": "cust_1OcIK1GEuVvXZwD19tjq2z",
                "object": "customer",
                "email": "tester@example.com",
                "name": "Tester Test",
                "country": "NL",
            },
            "custom_fields": [],
            "status": "completed",
            "metadata": {"order_id": str(order_id)},
            "mode": "local",
        },
    }


def refund_created() -> dict[str, Any]:
    return {
        "id": "evt_61eTsJHUgInFw2BQKhTiPV",
        "eventType": "refund.created",
        "created_at": 1728734351631,
        "object": {
            "id": "ref_3DB9NQFvk18TJwSqd0N6bd",
            "object": "refund",
            "status": "succeeded",
            "refund_amount": 1210,
            "refund_currency": "EUR",
            "reason": "requested_by_customer",
            "transaction": {
                "id": "tran_5yMaWzAl3jxuGJMCOrYWwk",
                "amount": 1000,
                "amount_paid": 1210,
                "status": "refunded",
            },
            "subscription": {"id": "sub_6pC2lNB6joCRQIZ1aMrTpi", "status": "canceled"},
            "customer": {"id": "cust_1OcIK1GEuVvXZwD19tjq2z", "email": "customer@example.com"},
            "created_at": 1728734351525,
        },
    }


def dispute_created() -> dict[str, Any]:
    return {
        "id": "evt_6mfLDL7P0NYwYQqCrICvDH",
        "eventType": "dispute.created",
        "created_at": 1750941264812,
        "object": {
            "id": "disp_6vSsOdTANP5PhOzuDlUuXE",
            "object": "dispute",
            "amount": 1331,
            "currency": "EUR",
            "transaction": {"id": "tran_4Dk8CxWFdceRUQgMFhCCXX", "status": "chargeback"},
            "subscription": {"id": "sub_5sD6zM482uwOaEoyEUDDJs", "status": "active"},
            "customer": {"id": "cust_OJPZd2GMxgo1MGPNXXBSN", "email": "customer@example.com"},
            "created_at": 1750941264728,
        },
    }


def subscription_paid() -> dict[str, Any]:
    return {
        "id": "evt_21mO1jWmU2QHe7u2oFV7y1",
        "eventType": "subscription.paid",
        "created_at": 1728734327355,
        "object": {"id": "sub_6pC2lNB6joCRQIZ1aMrTpi", "object": "subscription"},
    }
