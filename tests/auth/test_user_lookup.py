"""`GET /internal/users/{id}`: auth says whether a user exists, to services only."""

from __future__ import annotations

import uuid

import aiohttp

from shared.internal import TOKEN_HEADER
from tests.accounts import sign_up
from tests.conftest import INTERNAL_TOKEN, Stack


async def test_auth_says_whether_a_user_exists(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    internal = {TOKEN_HEADER: INTERNAL_TOKEN}
    async with aiohttp.ClientSession() as session:
        async with session.get(
            stack.auth.make_url(f"/internal/users/{account.id}"), headers=internal
        ) as known:
            assert known.status == 200
            assert await known.json() == {
                "id": account.id,
                "role": "user",
                "token_generation": 0,
            }
        for unknown in (str(uuid.uuid4()), "not-a-uuid"):
            async with session.get(
                stack.auth.make_url(f"/internal/users/{unknown}"), headers=internal
            ) as missing:
                assert missing.status == 404
        async with session.get(stack.auth.make_url(f"/internal/users/{account.id}")) as bare:
            assert bare.status == 401  # the internal token is required


async def test_the_gateway_never_forwards_the_lookup(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    response = await stack.gateway.get(f"/internal/users/{account.id}", headers=account.headers)
    assert response.status == 404


async def test_auth_gives_a_users_contact_to_services_only(stack: Stack) -> None:
    """`GET /internal/users/{id}/contact`: billing's low-balance mail asks here."""
    account = await sign_up(stack.gateway)
    internal = {TOKEN_HEADER: INTERNAL_TOKEN}
    path = f"/internal/users/{account.id}/contact"
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.auth.make_url(path), headers=internal) as known:
            assert known.status == 200
            assert await known.json() == {
                "id": account.id,
                "email": account.email,
                "name": account.username,
                "language": "en",
            }
        for unknown in (str(uuid.uuid4()), "not-a-uuid"):
            async with session.get(
                stack.auth.make_url(f"/internal/users/{unknown}/contact"), headers=internal
            ) as missing:
                assert missing.status == 404
        async with session.get(stack.auth.make_url(path)) as bare:
            assert bare.status == 401
    response = await stack.gateway.get(path, headers=account.headers)
    assert response.status == 404
