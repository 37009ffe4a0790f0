"""Channel health end to end: the breaker opens, probes and closes; an upstream
401 disables a channel for every process until a probe succeeds; the per
channel metrics say what happened."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from typing import Any

import pytest

from services.gateway.app import create_app as create_gateway
from services.gateway.app_keys import CHANNEL_STORE
from tests.accounts import Account, Client
from tests.conftest import AiohttpClient
from tests.gateway.providers import CHAT, Providers, Routed, outage
from tests.scrape import scrape

CHANNELS = "/api/admin/channels"


async def _gateway(routed: Routed, aiohttp_client: AiohttpClient, **settings: Any) -> Client:
    """A gateway process of its own, with the settings under test."""
    return await aiohttp_client(create_gateway(replace(routed.stack.gateway_settings, **settings)))


async def _chat(gateway: Client, routed: Routed) -> int:
    response = await gateway.post("/v1/chat/completions", json=CHAT, headers=routed.headers)
    await response.read()
    return response.status


async def _gauge(gateway: Client, name: str, channel_id: object) -> float:
    text = await scrape(gateway.app)
    found = re.search(rf'^{name}{{channel_id="{channel_id}",[^}}]*}} (\S+)$', text, re.M)
    assert found, f"{name} for {channel_id} not in /metrics"
    return float(found.group(1))


async def _counter(gateway: Client, name: str, labels: str) -> float:
    text = await scrape(gateway.app)
    found = re.search(rf"^{name}{{{labels}}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_the_breaker_opens_probes_and_closes(
    providers: Providers, aiohttp_client: AiohttpClient
) -> None:
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    gateway = await _gateway(routed, aiohttp_client, breaker_failures=3, breaker_open_seconds=1)
    first = routed.channels[0].id
    await outage(routed.mocks[0], controls="status=500")

    for _ in range(3):  # three failures in a row open it; each request still succeeds
        assert await _chat(gateway, routed) == 200
    assert routed.calls(0) == 3
    assert await _gauge(gateway, "tollgate_channel_breaker_state", first) == 2  # open
    for _ in range(5):
        assert await _chat(gateway, routed) == 200
    assert routed.calls(0) == 3, "an open breaker sends nothing to its channel"

    await asyncio.sleep(1.1)
    assert await _gauge(gateway, "tollgate_channel_breaker_state", first) == 1  # half-open
    assert await _chat(gateway, routed) == 200  # the probe fails: open again
    assert routed.calls(0) == 4
    assert await _gauge(gateway, "tollgate_channel_breaker_state", first) == 2

    await outage(routed.mocks[0])
    await asyncio.sleep(1.1)
    assert await _chat(gateway, routed) == 200  # the probe succeeds: closed
    assert await _gauge(gateway, "tollgate_channel_breaker_state", first) == 0
    before = routed.calls(1)
    for _ in range(5):
        assert await _chat(gateway, routed) == 200
    assert (routed.calls(0), routed.calls(1)) == (10, before)

    labels = f'channel_id="{first}",kind="server_error"'
    assert await _counter(gateway, "tollgate_channel_errors_total", labels) == 4
    requests = await _counter(gateway, "tollgate_channel_requests_total", f'channel_id="{first}"')
    assert requests == 10
    latency = await _counter(
        gateway, "tollgate_channel_first_byte_seconds_count", f'channel_id="{first}"'
    )
    assert latency == 6, "time to first byte is observed for each successful attempt"


async def test_an_error_ratio_over_the_window_opens_the_breaker(
    providers: Providers, aiohttp_client: AiohttpClient
) -> None:
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    gateway = await _gateway(routed, aiohttp_client, breaker_failures=1000)
    first = routed.channels[0].id
    # Alternate failure and success: never 1000 in a row, but half of 20 requests.
    for index in range(20):
        await outage(routed.mocks[0], **({"controls": "status=503"} if index % 2 else {}))
        assert await _chat(gateway, routed) == 200
    assert await _gauge(gateway, "tollgate_channel_breaker_state", first) == 2


async def _channel(client: Client, admin: Account, channel_id: object) -> dict[str, Any]:
    response = await client.get(f"{CHANNELS}/{channel_id}", headers=admin.headers)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def _until(check: Any, seconds: float) -> float:
    started = time.perf_counter()
    while not await check():
        assert time.perf_counter() - started < seconds, "not within the time allowed"
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def test_upstream_401_disables_the_channel_on_every_gateway(
    providers: Providers, admin: Account, aiohttp_client: AiohttpClient
) -> None:
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    other = await _gateway(routed, aiohttp_client)
    first = routed.channels[0].id
    await outage(routed.mocks[0], refuse_keys=True)
    assert await _chat(routed.stack.gateway, routed) == 200

    async def disabled() -> bool:
        channel = await _channel(routed.stack.gateway, admin, first)
        return channel["enabled"] is False

    await _until(disabled, 1.0)
    channel = await _channel(routed.stack.gateway, admin, first)
    assert channel["disabled_reason"] == "upstream_auth_failed"
    assert await _gauge(routed.stack.gateway, "tollgate_channel_enabled", first) == 0

    async def other_stopped() -> bool:
        return await _gauge(other, "tollgate_channel_enabled", first) == 0

    await _until(other_stopped, 1.0)
    calls = routed.calls(0)
    assert await _chat(other, routed) == 200
    assert routed.calls(0) == calls, "the other gateway never tried the disabled channel"


async def test_a_probe_that_succeeds_enables_the_channel_again(
    providers: Providers, admin: Account, aiohttp_client: AiohttpClient
) -> None:
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    first = routed.channels[0].id
    await outage(routed.mocks[0], refuse_keys=True)
    assert await _chat(routed.stack.gateway, routed) == 200

    async def disabled() -> bool:
        return (await _channel(routed.stack.gateway, admin, first))["enabled"] is False

    await _until(disabled, 1.0)

    tested = await routed.stack.gateway.post(f"{CHANNELS}/{first}/test", headers=admin.headers)
    assert tested.status == 200
    report = await tested.json()
    assert (report["ok"], report["status"], report["reenabled"]) == (False, 401, False)
    assert report["error_kind"] == "auth_failed" and report["latency_ms"] > 0

    # The background prober (every second in this gateway) finds the key accepted again.
    prober = await _gateway(routed, aiohttp_client, probe_seconds=1)
    await outage(routed.mocks[0])

    async def enabled() -> bool:
        return (await _channel(routed.stack.gateway, admin, first))["enabled"] is True

    await _until(enabled, 5.0)
    assert (await _channel(prober, admin, first))["disabled_reason"] is None
    calls = routed.calls(0)
    assert await _chat(routed.stack.gateway, routed) == 200
    assert routed.calls(0) == calls + 1


async def test_the_test_endpoint_reports_and_reenables(
    providers: Providers, admin: Account
) -> None:
    routed = await providers(1)
    channel_id = routed.channels[0].id
    gateway = routed.stack.gateway
    tested = await gateway.post(f"{CHANNELS}/{channel_id}/test", headers=admin.headers)
    report = await tested.json()
    assert tested.status == 200, report
    assert report == {
        "ok": True,
        "status": 200,
        "latency_ms": report["latency_ms"],
        "model": "gpt-4o-mini",
        "error": None,
        "error_kind": None,
        "channel_id": str(channel_id),
        "reenabled": False,
    }
    assert 0 < report["latency_ms"] < 5000
    assert routed.calls(0) == 1

    app = gateway.app
    assert app is not None
    await app[CHANNEL_STORE].disable_for_upstream_auth(channel_id)
    tested = await gateway.post(f"{CHANNELS}/{channel_id}/test", headers=admin.headers)
    assert (await tested.json())["reenabled"] is True
    assert (await _channel(gateway, admin, channel_id))["enabled"] is True

    await outage(routed.mocks[0], controls="status=503")
    tested = await gateway.post(
        f"{CHANNELS}/{channel_id}/test", json={"model": "gpt-4o-mini"}, headers=admin.headers
    )
    report = await tested.json()
    assert (report["ok"], report["status"], report["error_kind"]) == (False, 503, "server_error")

    refused = await gateway.post(
        f"{CHANNELS}/{channel_id}/test", json={"model": "o4-mini"}, headers=admin.headers
    )
    assert refused.status == 422
    assert "not one of the channel's models" in await refused.text()


async def test_a_probe_never_enables_a_channel_an_operator_disabled(
    providers: Providers, admin: Account
) -> None:
    routed = await providers(1)
    channel_id = routed.channels[0].id
    gateway = routed.stack.gateway
    patched = await gateway.patch(
        f"{CHANNELS}/{channel_id}", json={"enabled": False}, headers=admin.headers
    )
    assert (await patched.json())["disabled_reason"] == "operator"
    tested = await gateway.post(f"{CHANNELS}/{channel_id}/test", headers=admin.headers)
    report = await tested.json()
    assert (report["ok"], report["reenabled"]) == (True, False)
    assert (await _channel(gateway, admin, channel_id))["enabled"] is False


@pytest.mark.parametrize("status", [401, 403])
async def test_an_operator_reenabling_clears_the_reason(
    providers: Providers, admin: Account, status: int
) -> None:
    routed = await providers(1)
    channel_id = routed.channels[0].id
    gateway = routed.stack.gateway
    await outage(routed.mocks[0], controls=f"status={status}")
    response = await gateway.post("/v1/chat/completions", json=CHAT, headers=routed.headers)
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "upstream_auth_failed"

    async def disabled() -> bool:
        return (await _channel(gateway, admin, channel_id))["enabled"] is False

    await _until(disabled, 1.0)
    patched = await gateway.patch(
        f"{CHANNELS}/{channel_id}", json={"enabled": True}, headers=admin.headers
    )
    assert (await patched.json())["disabled_reason"] is None
