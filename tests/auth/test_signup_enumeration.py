"""Sign-up does not say whether an email has an account (issue 16, point 8).

A taken email gets the answer a fresh sign-up gets (status, body, headers;
bench/accounts compares the times, BENCHMARKS.md); the owner of the address
is mailed instead, at most once an hour; a taken username is still 409.
"""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse

from tests.accounts import PASSWORD, log_in, sign_up
from tests.auth.mailed import PUBLIC_URL, Client, mailed_stack
from tests.conftest import AiohttpClient, AiohttpServer, Stack

# Headers whose values differ between any two answers.
VOLATILE = {"date", "x-request-id", "content-length"}
ATTEMPT = "Someone tried to sign up to Tollgate with your address"


async def _sign_up(client: Client, email: str, username: str, ip: str = "") -> ClientResponse:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await client.post(
        "/api/auth/signup",
        json={"email": email, "username": username, "password": PASSWORD},
        headers=headers,
    )


def _shape(response: ClientResponse) -> dict[str, str]:
    return {
        name.lower(): "" if name.lower() in VOLATILE else value
        for name, value in response.headers.items()
    }


async def test_a_taken_email_is_answered_like_a_fresh_sign_up(stack: Stack) -> None:
    await sign_up(stack.gateway, "owner_one")
    fresh = await _sign_up(stack.gateway, "newcomer@example.com", "newcomer")
    taken = await _sign_up(stack.gateway, "OWNER_ONE@Example.com", "intruder")
    assert fresh.status == taken.status == 201, await taken.text()
    assert await fresh.json() == {
        "status": "verification_sent",
        "email": "newcomer@example.com",
        "username": "newcomer",
    }
    assert await taken.json() == {
        "status": "verification_sent",
        "email": "owner_one@example.com",
        "username": "intruder",
    }
    assert _shape(fresh) == _shape(taken)
    # Same length apart from the echoed fields: nothing only a new account has.
    fresh_len = len(await fresh.read()) - len("newcomer@example.com") - len("newcomer")
    taken_len = len(await taken.read()) - len("owner_one@example.com") - len("intruder")
    assert fresh_len == taken_len
    # No account was made for the intruder, and the owner's is untouched.
    refused = await stack.gateway.post(
        "/api/auth/login", json={"login": "intruder", "password": PASSWORD}
    )
    assert refused.status == 401
    assert await log_in(stack.gateway, "owner_one")


async def test_a_taken_username_is_409_whatever_the_email(stack: Stack) -> None:
    await sign_up(stack.gateway, "owner_two")
    for email in ("someone_new@example.com", "owner_two@example.com"):
        response = await _sign_up(stack.gateway, email, "OWNER_TWO")
        assert response.status == 409, email
        assert "username" in (await response.json())["error"]["message"]


async def test_the_owner_is_mailed_once_an_hour_and_sees_the_attempts(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client)
    owner = await sign_up(mailed.gateway, "owner_three")
    await mailed.settle(db)
    first = await _sign_up(mailed.gateway, "Owner_Three@example.com", "spammer_a", "198.51.100.7")
    second = await _sign_up(mailed.gateway, "owner_three@example.com", "spammer_b", "198.51.100.8")
    assert first.status == second.status == 201
    (notice,) = await mailed.mails_to(owner.email, subject=ATTEMPT)
    assert "198.51.100.7" in notice["text"]
    assert f"{PUBLIC_URL}/login" in notice["text"]
    assert f"{PUBLIC_URL}/forgot-password" in notice["text"]
    assert f'href="{PUBLIC_URL}/forgot-password"' in notice["html"]
    assert PASSWORD not in notice["text"] and "spammer" not in notice["text"]
    await mailed.settle(db)
    # The second attempt mailed nobody.
    assert len(await mailed.mails_to(owner.email, subject=ATTEMPT)) == 1
    events = await (
        await mailed.gateway.get("/api/me/security-events", headers=owner.headers)
    ).json()
    attempts = [e for e in events["data"] if e["kind"] == "signup_attempt_existing_email"]
    assert [a["ip"] for a in attempts] == ["198.51.100.8", "198.51.100.7"]
    assert [a["detail"] for a in attempts] == [{"mailed": False}, {"mailed": True}]
    assert PASSWORD not in str(events)
    stored = await db.fetchval("SELECT count(*) FROM auth.users WHERE email = $1", owner.email)
    assert stored == 1


async def test_the_notice_is_in_the_owners_language(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client)
    owner = await sign_up(mailed.gateway, "owner_four")
    changed = await mailed.gateway.patch(
        "/api/me", json={"language": "zh-CN"}, headers=owner.headers
    )
    assert changed.status == 200
    assert (await _sign_up(mailed.gateway, owner.email, "someone_else")).status == 201
    (notice,) = await mailed.mails_to(owner.email, subject="有人尝试用您的邮箱注册 Tollgate")
    assert f"{PUBLIC_URL}/forgot-password" in notice["text"]


async def test_parallel_attempts_on_one_address_mail_once(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    import asyncio

    mailed = await mailed_stack(stack, aiohttp_server, aiohttp_client)
    owner = await sign_up(mailed.gateway, "owner_five")
    answers = await asyncio.gather(
        *(
            _sign_up(mailed.gateway, owner.email, f"racer_{n}", f"203.0.113.{n + 1}")
            for n in range(8)
        )
    )
    assert {a.status for a in answers} == {201}
    await mailed.mails_to(owner.email, subject=ATTEMPT)
    await mailed.settle(db)
    assert len(await mailed.mails_to(owner.email, subject=ATTEMPT)) == 1
    kinds = await db.fetch(
        "SELECT detail FROM auth.security_events WHERE kind = 'signup_attempt_existing_email'"
    )
    assert len(kinds) == 8
