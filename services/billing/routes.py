"""The billing service's routes. `/api/*` is reached through the gateway
(`/api/admin/*` with the admin role); `/internal/*` only by other services."""

from __future__ import annotations

from aiohttp import web

from services.billing import (
    credit_admin,
    handlers,
    low_balance,
    price_admin,
    reconcile_admin,
    redeem_handlers,
)
from services.billing.payments import admin_orders, receipts, topups, webhooks


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/billing/balance", handlers.balance)
    router.add_get("/api/billing/ledger", handlers.statement)
    router.add_get("/api/billing/alert", low_balance.get_alert)
    router.add_put("/api/billing/alert", low_balance.put_alert)
    router.add_post("/api/admin/credits", credit_admin.post_credit)
    router.add_get("/api/admin/balances/{user_id}", handlers.admin_balance)
    router.add_get("/api/admin/prices", price_admin.list_prices)
    router.add_get("/api/admin/prices/{model:.+}", price_admin.get_prices)
    router.add_put("/api/admin/prices/{model:.+}", price_admin.put_price)
    router.add_post("/api/admin/reconcile", reconcile_admin.run)
    router.add_get("/api/admin/reconcile", reconcile_admin.last)
    router.add_post("/api/billing/redeem", redeem_handlers.redeem)
    router.add_post("/api/admin/redemption-codes", redeem_handlers.create_batch)
    router.add_get("/api/admin/redemption-codes", redeem_handlers.list_batches)
    router.add_get("/api/billing/topup-options", topups.options)
    router.add_get("/api/billing/topups/options", topups.options)
    router.add_post("/api/billing/topups", topups.create_topup)
    router.add_get("/api/billing/orders", topups.list_orders)
    router.add_get("/api/billing/orders/{order_id}", topups.get_order)
    router.add_get("/api/billing/orders/{order_id}/receipt", receipts.receipt)
    router.add_post("/api/billing/webhooks/{provider}", webhooks.receive)
    router.add_get("/api/admin/orders", admin_orders.list_orders)
    router.add_get("/api/admin/orders/{order_id}", admin_orders.show_order)
    router.add_post("/api/admin/orders/{order_id}/refund", admin_orders.refund)
    router.add_post("/api/admin/orders/{order_id}/dispute", admin_orders.close_dispute)
    router.add_get("/internal/balances/{user_id}", handlers.internal_balance)
    router.add_get("/internal/prices", price_admin.internal_prices)
