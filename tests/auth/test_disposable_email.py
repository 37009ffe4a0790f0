"""Disposable email domains are refused at sign-up only when the operator says so."""

from __future__ import annotations

from typing import Any

from services.auth.disposable import disposable_problems, is_disposable
from tests.accounts import PASSWORD
from tests.auth.mailed import Client, mailed_stack
from tests.conftest import AiohttpClient, AiohttpServer, Stack


def test_listed_domains_and_their_subdomains_are_disposable() -> None:
    assert is_disposable("someone@mailinator.com")
    assert is_disposable("someone@MAIL.Mailinator.com")
    assert is_disposable("someone@a.b.guerrillamail.com.")
    assert not is_disposable("someone@example.com")
    assert not is_disposable("someone@gmail.com")
    assert not is_disposable("someone@com")  # a bare top-level domain is not listed
    assert not is_disposable("mailinator.com@example.com")  # the domain is after the last @
    assert disposable_problems("x@example.org") == []
    assert disposable_problems("x@mailinator.com")[0].startswith("email:")


async def _sign_up(client: Client, email: str, username: str) -> Any:
    return await client.post(
        "/api/auth/signup", json={"email": email, "username": username, "password": PASSWORD}
    )


async def test_refused_with_a_clear_422_when_turned_on(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client, refuse_disposable_email=True)
    options = await (await mailed.gateway.get("/api/auth/signup/options")).json()
    assert options["refuses_disposable_email"] is True
    for email in ("temp@mailinator.com", "temp@mail.mailinator.com", "Temp@GuerrillaMail.com"):
        response = await _sign_up(mailed.gateway, email, "temporary")
        assert response.status == 422, email
        details = (await response.json())["error"]["details"]
        assert any("disposable" in detail for detail in details), details
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0
    lasting = await _sign_up(mailed.gateway, "lasting@example.com", "lasting")
    assert lasting.status == 201


async def test_accepted_when_off_as_by_default(stack: Stack) -> None:
    assert stack.auth_settings.refuse_disposable_email is False
    response = await _sign_up(stack.gateway, "temp@mailinator.com", "temporary")
    assert response.status == 201, await response.text()
