"""The mailed sign-in link (issue 16, point 7): past an account's failure limit over
all sources, a login from a new source without two-factor is asked for a link
mailed to the account's address, played over HTTP through the gateway with the
real mail sink.

Every password from that source gets the same 403; only the right one mails
the link (at most once per 5 minutes); the link works once, for 15 minutes,
finishes the kind of sign-in the login asked for (a JWT, or a session cookie
from the console's origin only), and makes its source known.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import ClientResponse

from tests.accounts import PASSWORD, Account, Client, sign_up
from tests.auth.account_mail import token_from
from tests.auth.mailed import PUBLIC_URL, Mailed, mailed_stack
from tests.browsers import session_morsel
from tests.conftest import AiohttpClient, AiohttpServer, Stack
from tests.test_privacy_at_rest import _every_stored_value
from tests.two_factor import turn_on

THRESHOLD = 6  # failures over all sources before a new source is asked for more
WRONG = "wrong password!!"
NEW_SOURCE = "198.51.100.20"
OWNER_AGENT = "owner-laptop/1.0"
SUBJECT = "Your Tollgate sign-in link"
PAGE = "/sign-in-link"


async def _stack(stack: Stack, server: AiohttpServer, client: AiohttpClient) -> Mailed:
    return await mailed_stack(
        stack, server, client, login_failures_per_account_all_sources=THRESHOLD
    )


async def _login(
    gateway: Client, login: str, password: str, ip: str, **extra: Any
) -> ClientResponse:
    headers = {"X-Forwarded-For": ip, "User-Agent": OWNER_AGENT, **extra.pop("headers", {})}
    return await gateway.post(
        "/api/auth/login", json={"login": login, "password": password, **extra}, headers=headers
    )


async def _attacked(mailed: Mailed) -> Account:
    """An account (signed up from 127.0.0.1) past its limit over all sources."""
    account = await sign_up(mailed.gateway)
    for number in range(THRESHOLD):
        response = await _login(mailed.gateway, account.username, WRONG, f"10.7.{number}.1")
        assert response.status == 401
    return account


async def _asked_for_more(response: ClientResponse) -> dict[str, Any]:
    assert response.status == 403, await response.text()
    body: dict[str, Any] = await response.json()
    assert body["error"]["code"] == "additional_verification_required"
    assert "sign-in link has been mailed to the account's address" in body["error"]["message"]
    return body


async def _link(mailed: Mailed, account: Account, count: int = 1) -> str:
    (mail, *_) = await mailed.mails_to(account.email, count, subject=SUBJECT)
    return token_from(mail, PAGE)


async def _follow(
    gateway: Client, token: Any, ip: str = NEW_SOURCE, **headers: str
) -> ClientResponse:
    return await gateway.post(
        "/api/auth/login/link", json={"token": token}, headers={"X-Forwarded-For": ip, **headers}
    )


async def _events(gateway: Client, token: str) -> list[dict[str, Any]]:
    response = await gateway.get(
        "/api/me/security-events", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200, await response.text()
    events: list[dict[str, Any]] = (await response.json())["data"]
    return events


async def test_the_right_password_from_a_new_source_mails_a_link_that_signs_in_once(
    stack: Stack, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    await _asked_for_more(await _login(mailed.gateway, account.username, PASSWORD, NEW_SOURCE))
    (mail,) = await mailed.mails_to(account.email, subject=SUBJECT)
    assert NEW_SOURCE in mail["text"] and OWNER_AGENT in mail["text"]
    assert "Change your password" in mail["text"]
    token = token_from(mail, PAGE)
    assert len(token) >= 43  # 256 random bits

    signed_in = await _follow(mailed.gateway, token)
    assert signed_in.status == 200, await signed_in.text()
    assert signed_in.headers["Cache-Control"] == "no-store"
    jwt = (await signed_in.json())["access_token"]
    me = await mailed.gateway.get("/api/me", headers={"Authorization": f"Bearer {jwt}"})
    assert (await me.json())["id"] == account.id

    again = await _follow(mailed.gateway, token)
    assert again.status == 400
    assert "invalid, used or expired" in (await again.json())["error"]["message"]

    # The mailbox was proof enough: from now on this source is a known one.
    known = await _login(mailed.gateway, account.email, PASSWORD, NEW_SOURCE)
    assert known.status == 200, await known.text()
    events = await _events(mailed.gateway, jwt)
    sent = next(event for event in events if event["kind"] == "login_link_sent")
    assert sent["ip"] == NEW_SOURCE and sent["user_agent"] == OWNER_AGENT
    assert sent["detail"] == {"session": False}
    by_link = [event for event in events if event["detail"] == {"method": "mailed_link"}]
    assert [(event["kind"], event["ip"]) for event in by_link] == [("login", NEW_SOURCE)]


async def test_a_session_login_gets_a_session_link_taken_from_the_console_only(
    stack: Stack, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    asked = await _login(
        mailed.gateway,
        account.username,
        PASSWORD,
        NEW_SOURCE,
        session=True,
        headers={"Origin": PUBLIC_URL},
    )
    await _asked_for_more(asked)
    token = await _link(mailed, account)

    # Another site's page posting the link (login CSRF) is refused, and the link survives.
    forged = await _follow(mailed.gateway, token, Origin="https://evil.example")
    assert forged.status == 403, await forged.text()
    signed_in = await _follow(mailed.gateway, token, Origin=PUBLIC_URL)
    assert signed_in.status == 200, await signed_in.text()
    body = await signed_in.json()
    assert "access_token" not in body and body["csrf_token"]
    morsel = session_morsel(signed_in)
    mailed.gateway.session.cookie_jar.clear()
    current = await mailed.gateway.get(
        "/api/auth/session", headers={"Cookie": f"{morsel.key}={morsel.value}"}
    )
    assert current.status == 200, await current.text()
    assert (await current.json())["session"]["id"] == body["session"]["id"]


async def test_a_wrong_password_gets_the_same_answer_counts_and_mails_nothing(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    db: Any,
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    wrong = await _login(mailed.gateway, account.username, WRONG, NEW_SOURCE)
    wrong_body = await _asked_for_more(wrong)
    ghost = await _login(mailed.gateway, "nobody_at_all", WRONG, NEW_SOURCE)
    assert ghost.status == 401  # a name with no failures is not past any limit
    right = await _login(mailed.gateway, account.username, PASSWORD, "198.51.100.21")
    assert await _asked_for_more(right) == wrong_body  # the answer tells nothing
    # Had the wrong password mailed, the 5-minute limit would have held this one back.
    (mail,) = await mailed.mails_to(account.email, subject=SUBJECT)
    assert "198.51.100.21" in mail["text"]
    await mailed.settle(db)
    assert len([m for m in await mailed.messages() if m["subject"] == SUBJECT]) == 1
    rows = await db.fetch(
        "SELECT kind, host(ip) AS ip FROM auth.security_events WHERE user_id = $1 "
        "AND kind IN ('login_failed', 'login_link_sent') AND ip <> '127.0.0.1'::inet "
        "AND NOT ip <<= '10.7.0.0/16'::inet ORDER BY id",
        uuid.UUID(account.id),
    )
    assert [(row["kind"], row["ip"]) for row in rows] == [
        ("login_failed", NEW_SOURCE),
        ("login_link_sent", "198.51.100.21"),
    ]


async def test_the_link_is_mailed_at_most_once_in_five_minutes(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    db: Any,
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    for ip in (NEW_SOURCE, NEW_SOURCE, "198.51.100.22", "2001:db8::1"):
        await _asked_for_more(await _login(mailed.gateway, account.username, PASSWORD, ip))
    await mailed.mails_to(account.email, subject=SUBJECT)
    await asyncio.sleep(0.3)
    await mailed.settle(db)
    assert len([m for m in await mailed.messages() if m["subject"] == SUBJECT]) == 1
    assert (
        await db.fetchval("SELECT count(*) FROM auth.account_tokens WHERE purpose = 'sign_in_link'")
        == 1
    )


async def test_an_expired_a_voided_or_a_forged_link_is_refused(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    db: Any,
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    await _asked_for_more(await _login(mailed.gateway, account.username, PASSWORD, NEW_SOURCE))
    token = await _link(mailed, account)
    lifetime = await db.fetchval(
        "SELECT expires_at - created_at FROM auth.account_tokens WHERE purpose = 'sign_in_link'"
    )
    assert lifetime.total_seconds() == 15 * 60
    await db.execute(
        "UPDATE auth.account_tokens SET expires_at = now() - interval '1 second' "
        "WHERE purpose = 'sign_in_link'"
    )
    assert (await _follow(mailed.gateway, token)).status == 400
    await db.execute(
        "UPDATE auth.account_tokens SET expires_at = now() + interval '10 minutes' "
        "WHERE purpose = 'sign_in_link'"
    )
    # A password change moves the token generation: the pending link dies with it.
    changed = await mailed.gateway.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase 42"},
        headers=account.headers,
    )
    assert changed.status == 200, await changed.text()
    assert (await _follow(mailed.gateway, token)).status == 400
    # Tokens of another purpose, a near miss, or no token at all open nothing.
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), "", "x" * 129, "a\x00b", 7):
        response = await _follow(mailed.gateway, forged)
        assert response.status in (400, 422), (forged, response.status)


async def test_concurrent_clicks_sign_in_once(
    stack: Stack, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    await _asked_for_more(await _login(mailed.gateway, account.username, PASSWORD, NEW_SOURCE))
    token = await _link(mailed, account)
    answers = await asyncio.gather(*(_follow(mailed.gateway, token) for _ in range(8)))
    assert sorted(response.status for response in answers) == [200] + [400] * 7


async def test_a_second_factor_turned_on_since_the_mail_is_still_asked_for(
    stack: Stack, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    await _asked_for_more(await _login(mailed.gateway, account.username, PASSWORD, NEW_SOURCE))
    token = await _link(mailed, account)
    await turn_on(mailed.gateway, account)
    answer = await _follow(mailed.gateway, token)
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert body["mfa_required"] is True and "access_token" not in body


async def test_the_link_is_not_stored_in_clear(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    db: Any,
) -> None:
    mailed = await _stack(stack, aiohttp_server, aiohttp_client)
    account = await _attacked(mailed)
    await _asked_for_more(await _login(mailed.gateway, account.username, PASSWORD, NEW_SOURCE))
    token = await _link(mailed, account)
    await mailed.settle(db)
    values = await _every_stored_value(db)
    assert any(column.endswith(".token_hash") for column, _ in values)
    for column, value in values:
        assert token not in value, f"the sign-in link stored in clear in {column}"
        assert token.encode().hex() not in value, f"the sign-in link stored in {column}"
