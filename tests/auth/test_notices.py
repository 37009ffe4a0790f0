"""Mail notices: a key was created; a sign-in came from a new address."""

from __future__ import annotations

from typing import Any

from tests.accounts import PASSWORD, create_key, sign_up
from tests.auth.mailed import Client, Mailed, mailed_stack
from tests.conftest import AiohttpClient, AiohttpServer, Stack

NEW_SIGN_IN = "Tollgate: a sign-in from a new address"


async def _log_in(client: Client, login: str, ip: str, agent: str = "test-agent/1.0") -> None:
    response = await client.post(
        "/api/auth/login",
        json={"login": login, "password": PASSWORD},
        headers={"X-Forwarded-For": ip, "User-Agent": agent},
    )
    assert response.status == 200, await response.text()


async def _subjects(mailed: Mailed, db: Any, address: str) -> list[str]:
    await mailed.settle(db)
    return [m["subject"] for m in await mailed.messages() if address in m["to"]]


async def test_a_created_key_is_mailed_without_its_secret(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client)
    owner = await sign_up(mailed.gateway, "keymaker")
    key = await create_key(mailed.gateway, owner, name="CI <deploy>")
    (notice,) = await mailed.mails_to(owner.email, subject="Tollgate: a new API key was created")
    assert "CI <deploy>" in notice["text"] and key["prefix"] in notice["text"]
    assert "CI &lt;deploy&gt;" in notice["html"]
    assert key["key"] not in notice["text"] and key["key"] not in notice["html"]


async def test_a_sign_in_from_a_new_address_is_mailed_once(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client)
    owner = await sign_up(mailed.gateway, "traveller")  # signs up and in from 127.0.0.1
    await _log_in(mailed.gateway, "traveller", "127.0.0.1")
    assert NEW_SIGN_IN not in await _subjects(mailed, db, owner.email)
    await _log_in(mailed.gateway, "traveller", "198.51.100.20", "Agent\x85With\x85Controls")
    (notice,) = await mailed.mails_to(owner.email, subject=NEW_SIGN_IN)
    assert "198.51.100.20" in notice["text"]
    assert "Agent With Controls" in notice["text"]
    # Now a known address; and an IPv6 host in a /64 signed in from is known too.
    await _log_in(mailed.gateway, "traveller", "198.51.100.20")
    await _log_in(mailed.gateway, "traveller", "2001:db8:1:2::10")
    await _log_in(mailed.gateway, "traveller", "2001:db8:1:2::99")
    subjects = await _subjects(mailed, db, owner.email)
    assert subjects.count(NEW_SIGN_IN) == 2  # 198.51.100.20 and 2001:db8:1:2::/64


async def test_no_notice_at_the_first_sign_in_after_sign_up(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client)
    signed = await mailed.gateway.post(
        "/api/auth/signup",
        json={"email": "fresh@example.com", "username": "fresh", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.5"},
    )
    assert signed.status == 201
    await _log_in(mailed.gateway, "fresh", "192.0.2.77")  # another address, but the first
    assert NEW_SIGN_IN not in await _subjects(mailed, db, "fresh@example.com")


async def test_parallel_sign_ins_from_a_new_address_mail_once(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    import asyncio

    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client)
    owner = await sign_up(mailed.gateway, "crowd")
    await asyncio.gather(*(_log_in(mailed.gateway, "crowd", "198.51.100.99") for _ in range(6)))
    subjects = await _subjects(mailed, db, owner.email)
    assert subjects.count(NEW_SIGN_IN) == 1
