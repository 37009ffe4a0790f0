"""Payment webhooks through the gateway: public (no credential), and the raw
body and signature headers reach billing byte for byte (billing verifies the
signature over exactly those bytes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway.app import create_app as create_gateway
from services.gateway.edge.api_routes import Owner, authorise, route_for
from shared.internal import TOKEN_HEADER, USER_HEADER
from shared.settings import Common
from tests.conftest import INTERNAL_TOKEN, AiohttpClient, AiohttpServer, Stack, gateway_settings_for

# Odd spacing, key order, a non-ASCII character and a trailing newline: any
# re-encoding on the way would break the signature.
BODY = b'{"id":"evt_1",  "type":"checkout.session.completed","z":"\xc3\xa9","a":1}\n'


def test_webhook_routes_are_public_and_billings() -> None:
    for provider in ("stripe", "creem"):
        route = route_for(f"/api/billing/webhooks/{provider}")
        assert route.owner is Owner.BILLING and route.public
        authorise(route, "POST", None)  # no credential: not refused
    # The rest of billing still needs one.
    assert not route_for("/api/billing/topups").public
    assert not route_for("/api/billing/webhooks-not").public


async def test_the_raw_body_and_signature_headers_reach_billing_untouched(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    seen: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(
            {
                "path": request.path,
                "body": await request.read(),
                "headers": dict(request.headers),
            }
        )
        return web.json_response({"received": True})

    recorder = web.Application()
    recorder.router.add_post("/api/billing/webhooks/{provider}", record)
    billing = await aiohttp_server(recorder)
    gateway = await aiohttp_client(
        create_gateway(
            gateway_settings_for(
                common,
                auth_url=str(stack.auth.make_url("")).rstrip("/"),
                billing_url=str(billing.make_url("")).rstrip("/"),
                usage_url=str(stack.usage.make_url("")).rstrip("/"),
            )
        )
    )
    stripe_signature = "t=1700000000,v1=" + "a" * 64 + ",v1=" + "b" * 64 + ",v0=c"
    response = await gateway.post(
        "/api/billing/webhooks/stripe",
        data=BODY,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
    )
    assert response.status == 200
    response = await gateway.post(
        "/api/billing/webhooks/creem",
        data=BODY,
        headers={"Content-Type": "application/json", "creem-signature": "f" * 64},
    )
    assert response.status == 200
    stripe_call, creem_call = seen
    assert stripe_call["path"] == "/api/billing/webhooks/stripe"
    assert stripe_call["body"] == BODY
    headers = {k.lower(): v for k, v in stripe_call["headers"].items()}
    assert headers["stripe-signature"] == stripe_signature
    assert headers["content-type"] == "application/json; charset=utf-8"
    # Billing knows it came through the gateway, and from no signed-in user.
    assert headers[TOKEN_HEADER.lower()] == INTERNAL_TOKEN
    assert USER_HEADER.lower() not in headers
    assert creem_call["body"] == BODY
    assert {k.lower(): v for k, v in creem_call["headers"].items()}["creem-signature"] == "f" * 64


async def test_a_client_cannot_pose_as_a_user_on_the_public_webhook_route(
    stack: Stack, common: Common, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response({})

    recorder = web.Application()
    recorder.router.add_post("/api/billing/webhooks/{provider}", record)
    billing = await aiohttp_server(recorder)
    gateway = await aiohttp_client(
        create_gateway(
            gateway_settings_for(
                common,
                auth_url=str(stack.auth.make_url("")).rstrip("/"),
                billing_url=str(billing.make_url("")).rstrip("/"),
                usage_url=str(stack.usage.make_url("")).rstrip("/"),
            )
        )
    )
    await gateway.post(
        "/api/billing/webhooks/stripe",
        data=BODY,
        headers={USER_HEADER: "00000000-0000-4000-8000-000000000000", "X-Tollgate-Role": "admin"},
    )
    (headers,) = seen
    assert USER_HEADER.lower() not in headers
    assert "x-tollgate-role" not in headers
