"""Sign-ups are throttled per source and per network (IPv4 /24, IPv6 /56)."""

from __future__ import annotations

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from services.auth.throttle import network_of, source_of
from tests.conftest import Stack

Client = TestClient[web.Request, web.Application]


async def attempt(client: Client, ip: str) -> ClientResponse:
    """A sign-up refused for its weak password: it counts, and costs no hashing."""
    return await client.post(
        "/api/auth/signup",
        json={"email": "a@example.com", "username": "someone", "password": "short"},
        headers={"X-Forwarded-For": ip},
    )


def test_sources_and_networks() -> None:
    assert source_of("203.0.113.9") == "203.0.113.9"
    assert network_of("203.0.113.9") == "203.0.113.0/24"
    assert source_of("::ffff:203.0.113.9") == "203.0.113.9"
    assert source_of("2001:db8:0:1ff::2") == "2001:db8:0:1ff::/64"
    assert network_of("2001:db8:0:1ff::2") == "2001:db8:0:100::/56"
    assert source_of(None) == network_of("not an address") == "unknown"


async def test_one_source_is_throttled_with_retry_after(stack: Stack, forwarded: Client) -> None:
    per_ip = stack.auth_settings.signups_per_ip
    for _ in range(per_ip):
        assert (await attempt(forwarded, "203.0.113.20")).status == 422
    refused = await attempt(forwarded, "203.0.113.20")
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= stack.auth_settings.signup_window_seconds
    assert (await refused.json())["error"]["code"] == "too_many_requests"
    # Another address of the same /24 is still below the network's limit.
    assert (await attempt(forwarded, "203.0.113.21")).status == 422


async def test_one_ipv4_network_is_throttled(stack: Stack, forwarded: Client) -> None:
    settings = stack.auth_settings
    for number in range(settings.signups_per_network):
        ip = f"198.51.100.{number // settings.signups_per_ip + 1}"
        assert (await attempt(forwarded, ip)).status == 422, number
    assert (await attempt(forwarded, "198.51.100.200")).status == 429
    assert (await attempt(forwarded, "198.51.101.1")).status == 422


async def test_ipv6_counts_per_64_and_per_56(stack: Stack, forwarded: Client) -> None:
    settings = stack.auth_settings
    for number in range(settings.signups_per_network):
        subnet = number // settings.signups_per_ip
        host = number % settings.signups_per_ip + 1
        assert (await attempt(forwarded, f"2001:db8:0:1{subnet:02x}::{host:x}")).status == 422
    # A fresh address in a used /64 and a fresh /64 in the same /56 are both refused.
    assert (await attempt(forwarded, "2001:db8:0:100::ffff")).status == 429
    assert (await attempt(forwarded, "2001:db8:0:1ff::1")).status == 429
    assert (await attempt(forwarded, "2001:db8:0:200::1")).status == 422
