"""A key's IP allowlist: an address outside it gets 403 in the client's format,
before any hold or upstream call (DESIGN 13).

The rule itself is pure (`admission/ip_allowlist.py`); the relay is driven end
to end with real auth, billing, Redis and the mock provider, the allowlist set
on the key row as auth stores it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.gateway.admission.ip_allowlist import AddressNotAllowed, admits, check
from services.gateway.admission.principals import Network
from services.gateway.app import create_app as create_gateway
from shared.stream_consumer import USAGE_STREAM
from tests.conftest import AiohttpClient, Stack
from tests.relay import Relay, relay_for

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
MESSAGES = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Hi"}],
}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def _networks(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def test_no_allowlist_admits_every_address_even_an_unknown_one() -> None:
    assert admits(None, "203.0.113.7") and admits(None, None) and admits(None, "junk")


@pytest.mark.parametrize(
    ("cidrs", "address", "admitted"),
    [
        (("10.0.0.0/8",), "10.200.3.4", True),
        (("10.0.0.0/8",), "11.0.0.1", False),
        (("10.0.0.0/8", "192.168.1.0/24"), "192.168.1.77", True),
        (("203.0.113.7/32",), "203.0.113.7", True),
        (("203.0.113.7/32",), "203.0.113.8", False),
        (("2001:db8::/32",), "2001:db8:1::5", True),
        (("2001:db8::/32",), "2001:db9::5", False),
        (("2001:db8::/32",), "fe80::1%eth0", False),
        (("fe80::/10",), "fe80::1%eth0", True),  # the zone index is not the address
        # An IPv4 peer as a dual-stack socket reports it is that IPv4 address.
        (("10.0.0.0/8",), "::ffff:10.1.2.3", True),
        (("10.0.0.0/8",), "::ffff:11.1.2.3", False),
        # A network written IPv4-mapped is the IPv4 network.
        (("::ffff:10.0.0.0/104",), "10.9.9.9", True),
        (("::ffff:10.0.0.0/104",), "11.9.9.9", False),
        # Versions never cross: ::/0 is every IPv6 address, no IPv4 one.
        (("::/0",), "10.0.0.1", False),
        (("0.0.0.0/0",), "2001:db8::1", False),
        (("0.0.0.0/0",), "::ffff:10.0.0.1", True),
        ((), "10.0.0.1", False),  # an empty allowlist admits nobody
    ],
)
def test_an_address_is_admitted_inside_one_of_the_networks(
    cidrs: tuple[str, ...], address: str, admitted: bool
) -> None:
    assert admits(_networks(*cidrs), address) is admitted


@pytest.mark.parametrize(
    "address",
    [None, "", "junk", "10.0.0.1\x00", "10.0.0.256", "1" * 100_000, "10.0.0.1, 10.0.0.2", " "],
)
def test_an_unreadable_address_is_outside_every_allowlist(address: str | None) -> None:
    assert not admits(_networks("0.0.0.0/0", "::/0"), address)


def test_the_refusal_names_the_address_and_never_echoes_junk() -> None:
    with pytest.raises(AddressNotAllowed) as refused:
        check(_networks("10.0.0.0/8"), "::ffff:192.0.2.1")
    assert (refused.value.status, refused.value.code) == (403, "ip_not_allowed")
    assert "192.0.2.1" in refused.value.message
    with pytest.raises(AddressNotAllowed) as junk:
        check(_networks("10.0.0.0/8"), "<script>" * 1000)
    assert "<script>" not in junk.value.message


# ---- end to end ----------------------------------------------------------------------


async def _allow(db: Any, relay: Relay, *cidrs: str) -> None:
    """The key's allowlist, as auth stores it (cidr[])."""
    await db.execute(
        "UPDATE auth.api_keys SET ip_allowlist = $1::cidr[] WHERE user_id = $2",
        list(cidrs),
        uuid.UUID(relay.account.id),
    )


async def _held(relay: Relay) -> Decimal:
    response = await relay.stack.gateway.get("/api/billing/balance", headers=relay.account.headers)
    assert response.status == 200
    return Decimal((await response.json())["held"])


async def _upstream_calls(stack: Stack) -> int:
    response = await stack.gateway.session.get(stack.mock.make_url("/mock/stats"))
    requests: int = (await response.json())["requests"]
    return requests


async def test_a_key_refuses_a_client_outside_its_allowlist_in_each_clients_format(
    stack: Stack, db: Any, redis: aioredis.Redis
) -> None:
    relay = await relay_for(stack)
    await _allow(db, relay, "10.0.0.0/8", "2001:db8::/32")
    before = await _upstream_calls(stack)
    bearer = {"Authorization": f"Bearer {relay.key}"}

    # The loopback client (127.0.0.1) is outside; a forwarded address is not
    # believed, since this gateway does not trust X-Forwarded-For.
    openai = await stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers={**bearer, "X-Forwarded-For": "10.1.1.1"}
    )
    assert openai.status == 403
    body = await openai.json()
    assert body["error"]["code"] == "ip_not_allowed"
    assert body["error"]["type"] == "permission_error"
    assert "127.0.0.1" in body["error"]["message"]

    anthropic = await stack.gateway.post(
        "/v1/messages", json=MESSAGES, headers={"x-api-key": relay.key}
    )
    assert anthropic.status == 403
    refused = await anthropic.json()
    assert refused["type"] == "error" and refused["error"]["type"] == "permission_error"

    gemini = await stack.gateway.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json=GEMINI,
        headers={"x-goog-api-key": relay.key},
    )
    assert gemini.status == 403
    assert (await gemini.json())["error"]["status"] == "PERMISSION_DENIED"

    models = await stack.gateway.get("/v1/models", headers=bearer)
    assert models.status == 403  # not even the model list

    # Refused before anything was taken: no hold, no upstream call, no usage event.
    await asyncio.sleep(0.1)
    assert await _held(relay) == 0
    assert await _upstream_calls(stack) == before
    assert await redis.xlen(USAGE_STREAM) == 0


async def test_a_client_inside_the_allowlist_is_relayed(stack: Stack, db: Any) -> None:
    relay = await relay_for(stack)
    # Written IPv4-mapped, the network is the IPv4 one the loopback client is in.
    await _allow(db, relay, "2001:db8::/32", "::ffff:127.0.0.0/104")
    response = await stack.gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {relay.key}"}
    )
    assert response.status == 200, await response.text()


async def test_behind_a_trusted_proxy_the_forwarded_address_is_checked(
    stack: Stack, db: Any, aiohttp_client: AiohttpClient
) -> None:
    """With GATEWAY_TRUST_FORWARDED_FOR, the first X-Forwarded-For hop is the client,
    as the usage record says; a forwarded value that is not an address is refused."""
    relay = await relay_for(stack)
    await _allow(db, relay, "198.51.100.0/24", "2001:db8::/32")
    behind_proxy = await aiohttp_client(
        create_gateway(
            replace(
                stack.gateway_settings,
                trust_forwarded_for=True,
                spool_dir=stack.common.data_dir / "spool-behind-proxy",
            )
        )
    )
    bearer = {"Authorization": f"Bearer {relay.key}"}
    for forwarded, status in [
        ("198.51.100.9, 10.0.0.1", 200),
        ("2001:db8::7", 200),
        ("::ffff:198.51.100.9", 200),
        ("203.0.113.9, 198.51.100.9", 403),  # only the first hop is the client
        ("not-an-address", 403),
        ("1" * 4_000, 403),
    ]:
        response = await behind_proxy.post(
            "/v1/chat/completions", json=CHAT, headers={**bearer, "X-Forwarded-For": forwarded}
        )
        assert response.status == status, (forwarded[:40], await response.text())
        if status == 403:
            assert (await response.json())["error"]["code"] == "ip_not_allowed"
