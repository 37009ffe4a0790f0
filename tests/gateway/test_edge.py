"""The gateway as the public edge: request ids, client identity, health, metrics,
what an API key may read, and the gateway as `run` serves it (malformed HTTP,
half-sent heads, the metrics port)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import orjson
import pytest

from services.gateway.app import create_app as create_gateway
from shared.internal import CLIENT_IP_HEADER, ROLE_HEADER, USER_HEADER
from shared.service import serving
from tests.accounts import create_key, sign_up
from tests.conftest import Stack
from tests.ports import free_ports
from tests.relay import relay_for
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


async def test_security_events_need_a_login_not_an_api_key(stack: Stack) -> None:
    """On 0c207e1 an API key read them: logins, failed logins, IPs, user agents."""
    account = await sign_up(stack.gateway)
    key = await create_key(stack.gateway, account)
    with_key = await stack.gateway.get(
        "/api/me/security-events", headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert with_key.status == 403
    assert (await with_key.json())["error"]["message"] == (
        "this route needs a login token, not an API key"
    )
    assert with_key.headers["x-should-retry"] == "false"
    with_login = await stack.gateway.get("/api/me/security-events", headers=account.headers)
    assert with_login.status == 200 and (await with_login.json())["data"]
    # The rest of /api/me stays readable with a key.
    me = await stack.gateway.get("/api/me", headers={"x-api-key": key["key"]})
    assert me.status == 200


@pytest.fixture
async def served(stack: Stack) -> AsyncIterator[tuple[int, int]]:
    """The gateway as `run` serves it: its port and its metrics port, a 1 s head timeout."""
    port, metrics_port = free_ports(2)
    common = replace(stack.common, port=port, metrics_port=metrics_port, head_timeout=1)
    spool = stack.common.data_dir / "spool-served"  # its own: the spool file is per process
    app = create_gateway(replace(stack.gateway_settings, common=common, spool_dir=spool))
    async with serving(app, common):
        yield port, metrics_port


async def _raw(port: int, sent: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


async def test_the_served_gateway_keeps_metrics_off_its_public_port(
    stack: Stack, served: tuple[int, int]
) -> None:
    port, metrics_port = served
    await relay_for(stack)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as public:
            assert public.status == 404
        async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
            assert health.status == 200
        async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as scraped:
            text = await scraped.text()
            assert scraped.status == 200 and scraped.headers["Server"] == "tollgate"
        async with session.get(f"http://127.0.0.1:{metrics_port}/healthz") as other:
            assert other.status == 404  # the metrics port serves /metrics only
    assert 'route="/healthz"' in text and "tollgate_channel_" in text


async def test_the_served_gateway_answers_malformed_http_in_json(
    served: tuple[int, int],
) -> None:
    """On 0c207e1: a text/plain 400 quoting the bytes sent."""
    port, _ = served
    answer = await _raw(port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nBad<Header>: SECRET\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"400"
    assert orjson.loads(body) == {
        "error": {"code": "bad_request", "message": "malformed HTTP request"}
    }
    assert b"SECRET" not in answer and b"aiohttp" not in answer


async def test_the_served_gateway_closes_half_sent_heads(served: tuple[int, int]) -> None:
    """On 0c207e1 200 such connections stayed open 35 s and more (keep-alive's 75 s)."""
    port, _ = served
    half_open = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
    try:
        for _, writer in half_open:
            writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as health,
        ):
            assert health.status == 200
        closed = await asyncio.gather(
            *(asyncio.wait_for(reader.read(), 30) for reader, _ in half_open)
        )
        assert closed == [b""] * 200
    finally:
        for _, writer in half_open:
            writer.close()


async def test_a_credential_of_bytes_that_are_not_ascii_is_401_not_a_500(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    # On 0c207e1 the key's hash met the surrogates aiohttp keeps such bytes as: 500.
    port = stack.gateway.port
    assert port is not None
    for header in (b"x-api-key: tg-\xff\xfe" + b"a" * 20, b"Authorization: Bearer tg-\xc3("):
        answer = await _raw(
            port, b"GET /api/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"the credential is malformed" in answer
    assert "Traceback" not in caplog.text


async def test_a_body_that_does_not_match_its_content_encoding_is_400_and_logs_no_traceback(
    served: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    """On 0c207e1: a 500 when a handler read it; aiohttp's "Unhandled exception" with a
    traceback when it drained it after the answer."""
    port, _ = served
    body = b'{"login": "a", "password": "b"}'
    head = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
    )
    answer = await _raw(port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Content-Encoding" in answer
    # Left unread by a handler that answers first (no credential: 401), then drained.
    key_head = b"POST /api/keys HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
    answer = await _raw(port, key_head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert "Traceback" not in caplog.text and "Unhandled exception" not in caplog.text
