"""Email change: the new address gets the link, confirming it changes the
email (and the login key), voids every login token, and the old address is
told; wrong passwords, API keys, taken addresses and replays change nothing."""

from __future__ import annotations

import uuid
from typing import Any

from tests.accounts import PASSWORD, create_key, log_in, refused_within_a_second, sign_up
from tests.auth.account_mail import mail_stack, messages, open_mail, queued_token, token_from
from tests.conftest import AiohttpClient, AiohttpServer, Stack


async def test_the_new_address_confirms_and_the_old_one_is_told(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mail_stack(stack, aiohttp_server, aiohttp_client)
    assert mailed.sink is not None
    client = mailed.gateway
    account = await sign_up(client)
    new_email = f"New.{account.username}@Example.org"
    asked = await client.post(
        "/api/me/email", json={"email": new_email, "password": PASSWORD}, headers=account.headers
    )
    assert asked.status == 202, await asked.text()
    assert (await asked.json())["email"] == new_email.lower()
    confirm = await open_mail(mailed.sink, new_email.lower(), "Confirm your new email")
    assert account.username in confirm["text"]
    token = token_from(confirm, "/confirm-email")
    me = await (await client.get("/api/me", headers=account.headers)).json()
    assert me["email"] == account.email  # unchanged until the link is used

    done = await client.post("/api/auth/confirm-email", json={"token": token})
    assert done.status == 200, await done.text()
    assert "token revoked" in await refused_within_a_second(client, account.headers)
    fresh = await log_in(client, new_email)
    me = await (await client.get("/api/me", headers={"Authorization": f"Bearer {fresh}"})).json()
    assert me["email"] == new_email.lower()
    assert me["email_verified"] is True
    gone = await client.post("/api/auth/login", json={"login": account.email, "password": PASSWORD})
    assert gone.status == 401

    notice = await open_mail(mailed.sink, account.email, "email of your Tollgate account")
    assert new_email.lower() in notice["text"] and account.email in notice["text"]
    replay = await client.post("/api/auth/confirm-email", json={"token": token})
    assert replay.status == 400
    kinds = await db.fetch(
        "SELECT kind FROM auth.security_events WHERE user_id = $1", uuid.UUID(account.id)
    )
    assert {"email_change_requested", "email_changed"} <= {r["kind"] for r in kinds}
    # The mail to the old address went to it, never to the new one.
    to_new = [m for m in await messages(mailed.sink) if new_email.lower() in m["to"]]
    assert [m["subject"] for m in to_new] == ["Confirm your new email for Tollgate"]


async def test_refusals_change_nothing(stack: Stack, db: Any) -> None:
    account = await sign_up(stack.gateway)
    other = await sign_up(stack.gateway)
    headers = account.headers
    wrong = await stack.gateway.post(
        "/api/me/email", json={"email": "x@example.org", "password": "wrong one!"}, headers=headers
    )
    assert wrong.status == 403
    same = await stack.gateway.post(
        "/api/me/email",
        json={"email": account.email.upper(), "password": PASSWORD},
        headers=headers,
    )
    assert same.status == 422
    for email in ("not an email", "a\x00@example.org", "x" * 300 + "@example.org"):
        bad = await stack.gateway.post(
            "/api/me/email", json={"email": email, "password": PASSWORD}, headers=headers
        )
        assert bad.status == 422, email
    key = await create_key(stack.gateway, account)
    by_key = await stack.gateway.post(
        "/api/me/email",
        json={"email": "k@example.org", "password": PASSWORD},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert by_key.status == 403
    # Another account's address: the same answer, and no link is made or mailed.
    taken = await stack.gateway.post(
        "/api/me/email", json={"email": other.email, "password": PASSWORD}, headers=headers
    )
    assert taken.status == 202
    assert (
        await db.fetchval("SELECT count(*) FROM auth.account_tokens WHERE purpose = 'email_change'")
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM auth.outbox WHERE template = 'email_change_confirm'"
        )
        == 0
    )
    assert (await stack.gateway.get("/api/me", headers=headers)).status == 200


async def test_an_address_taken_before_the_confirmation_is_a_conflict(
    stack: Stack, db: Any
) -> None:
    account = await sign_up(stack.gateway)
    target = f"later_{uuid.uuid4().hex[:8]}@example.org"
    asked = await stack.gateway.post(
        "/api/me/email", json={"email": target, "password": PASSWORD}, headers=account.headers
    )
    assert asked.status == 202
    token = await queued_token(db, "email_change_confirm")
    signup = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": target, "username": f"u_{uuid.uuid4().hex[:8]}", "password": PASSWORD},
    )
    assert signup.status == 201
    conflict = await stack.gateway.post("/api/auth/confirm-email", json={"token": token})
    assert conflict.status == 409
    me = await (await stack.gateway.get("/api/me", headers=account.headers)).json()
    assert me["email"] == account.email  # nothing changed, the login token still works


async def test_a_verification_link_is_not_an_email_change_link(stack: Stack, db: Any) -> None:
    await sign_up(stack.gateway)
    token = await queued_token(db, "verify_email")
    wrong_kind = await stack.gateway.post("/api/auth/confirm-email", json={"token": token})
    assert wrong_kind.status == 400
    reset_kind = await stack.gateway.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": PASSWORD + "!"}
    )
    assert reset_kind.status == 400
