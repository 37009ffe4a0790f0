"""`GET /api/admin/system` and the health in the admin channel list."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.gateway.app import create_app as create_gateway
from tests.accounts import Account, create_key, sign_up
from tests.conftest import AiohttpClient, Stack
from tests.gateway.providers import Providers, outage
from tests.ports import free_ports


async def test_an_admin_reads_readiness_and_the_stream(stack: Stack, admin: Account) -> None:
    response = await stack.gateway.get("/api/admin/system", headers=admin.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    services = {service["name"]: service for service in body["services"]}
    assert list(services) == ["gateway", "auth", "billing", "usage", "console"]
    for name in ("gateway", "auth", "billing", "usage"):
        assert services[name]["ready"] is True, services[name]
        assert services[name]["status"] == 200
        assert services[name]["detail"] == {"postgres": "ok", "redis": "ok"}
    stream = body["stream"]
    assert stream["name"] == "tg:usage" and stream["available"] is True
    assert isinstance(stream["length"], int) and stream["dead_letters"] == 0
    groups = {group["name"]: group for group in stream["groups"]}
    assert {"billing", "usage"} <= set(groups)
    assert all(isinstance(group["pending"], int) for group in groups.values())


async def test_a_service_that_does_not_answer_is_not_ready(
    stack: Stack, admin: Account, aiohttp_client: AiohttpClient
) -> None:
    (closed,) = free_ports(1)  # nothing listens there
    settings = replace(stack.gateway_settings, console_url=f"http://127.0.0.1:{closed}")
    gateway = await aiohttp_client(create_gateway(settings))
    body = await (await gateway.get("/api/admin/system", headers=admin.headers)).json()
    assert body["services"][-1] == {
        "name": "console",
        "ready": False,
        "status": None,
        "detail": {"error": "unreachable"},
    }
    assert all(service["ready"] for service in body["services"][:-1])


async def test_only_an_admin_login_reads_the_system(stack: Stack) -> None:
    assert (await stack.gateway.get("/api/admin/system")).status == 401
    user = await sign_up(stack.gateway)
    assert (await stack.gateway.get("/api/admin/system", headers=user.headers)).status == 403
    key = await create_key(stack.gateway, user)
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert (await stack.gateway.get("/api/admin/system", headers=headers)).status == 403


async def test_the_channel_list_shows_each_channels_health(
    providers: Providers, admin: Account
) -> None:
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    gateway = routed.stack.gateway

    async def health() -> dict[str, dict[str, Any]]:
        listed = await (await gateway.get("/api/admin/channels", headers=admin.headers)).json()
        return {channel["id"]: channel["health"] for channel in listed["data"]}

    first, second = (str(channel.id) for channel in routed.channels)
    before = await health()
    assert before[first] == {
        "breaker": "closed",
        "shut_off": False,
        "cooling": False,
        "requests": 0,
        "errors": 0,
        "last_used_at": None,
        "last_error": None,
        "last_error_at": None,
    }
    assert (await routed.chat())[0] == 200
    used = await health()
    assert used[first]["requests"] == 1 and used[first]["last_used_at"] is not None
    assert used[second]["requests"] == 0

    await outage(routed.mocks[0], controls="status=500")
    assert (await routed.chat())[0] == 200  # failed over to the second
    failed = await health()
    assert failed[first]["errors"] == 1 and failed[first]["last_error"]
    assert failed[first]["last_error"] == "server_error: the upstream failed to answer"
    assert failed[second]["requests"] == 1
    single = await gateway.get(f"/api/admin/channels/{first}", headers=admin.headers)
    assert (await single.json())["health"]["errors"] == 1
    assert "api_key" not in await single.text()
