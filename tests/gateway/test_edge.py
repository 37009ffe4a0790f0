"""The gateway as the public edge: request ids, client identity, health, metrics."""

from __future__ import annotations

import uuid

import aiohttp

from shared.internal import CLIENT_IP_HEADER, ROLE_HEADER, USER_HEADER
from tests.accounts import sign_up
from tests.conftest import Stack
from tests.scrape import scrape


async def test_the_edge_makes_its_own_request_id(stack: Stack) -> None:
    # A client's id is never taken: a relayed request's id is its usage event's
    # id, the key billing charges exactly once by.
    seen = set()
    for sent in (None, "client-id-123", "client-id-123", "a b\tc" + "x" * 300):
        headers = {} if sent is None else {"X-Request-Id": sent}
        response = await stack.gateway.get("/api/me", headers=headers)
        made = response.headers["X-Request-Id"]
        assert made != sent and len(made) == 32
        seen.add(made)
    assert len(seen) == 4


async def test_internal_services_take_the_callers_request_id(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        url = str(stack.auth.make_url("/healthz"))
        async with session.get(url, headers={"X-Request-Id": "gateway-id-123"}) as response:
            assert response.headers["X-Request-Id"] == "gateway-id-123"
        async with session.get(url, headers={"X-Request-Id": "a b\tc"}) as response:
            assert len(response.headers["X-Request-Id"]) == 32


async def test_forged_identity_headers_are_ignored(stack: Stack) -> None:
    alice = await sign_up(stack.gateway)
    bob = await sign_up(stack.gateway)
    forged = {USER_HEADER: bob.id, ROLE_HEADER: "admin", CLIENT_IP_HEADER: "10.9.8.7"}
    assert (await stack.gateway.get("/api/me", headers=forged)).status == 401
    me = await (await stack.gateway.get("/api/me", headers={**alice.headers, **forged})).json()
    assert me["id"] == alice.id and me["role"] == "user"


async def test_admin_routes_need_the_admin_role(stack: Stack) -> None:
    user = await sign_up(stack.gateway)
    response = await stack.gateway.post(
        "/api/admin/credits", json={"user_id": str(uuid.uuid4())}, headers=user.headers
    )
    assert response.status == 403


async def test_every_service_has_health_readiness_and_metrics(stack: Stack) -> None:
    session = stack.gateway.session
    servers = {
        "auth": (stack.auth.make_url(""), stack.auth.app),
        "billing": (stack.billing.make_url(""), stack.billing.app),
        "usage": (stack.usage.make_url(""), stack.usage.app),
        "gateway": (stack.gateway.make_url(""), stack.gateway.app),
    }
    for name, (base, app) in servers.items():
        async with session.get(base / "healthz") as health:
            assert health.status == 200 and (await health.json())["service"] == name
        async with session.get(base / "readyz") as ready:
            assert ready.status == 200
            assert await ready.json() == {"status": "ready", "postgres": "ok", "redis": "ok"}
        text = await scrape(app)
        assert "http_server_requests_total" in text, name
        assert 'route="/healthz"' in text, name


async def test_metrics_use_route_templates_not_raw_paths(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    await stack.gateway.delete(f"/api/keys/{uuid.uuid4()}", headers=account.headers)
    text = await scrape(stack.auth.app)
    assert 'route="/api/keys/{key_id}"' in text
    assert "http_server_request_duration_seconds_bucket" in text
