"""Sign-up, login and the profile, through the public gateway."""

from __future__ import annotations

from typing import Any

import jwt

from tests.accounts import PASSWORD, log_in, sign_up
from tests.conftest import Stack


async def test_signup_login_and_me(stack: Stack) -> None:
    client = stack.gateway
    response = await client.post(
        "/api/auth/signup",
        json={"email": "Ada@Example.com", "username": "ada", "password": PASSWORD},
    )
    assert response.status == 201
    created = await response.json()
    assert created == {"status": "verification_sent", "email": "ada@example.com", "username": "ada"}

    response = await client.post("/api/auth/login", json={"login": "ada", "password": PASSWORD})
    assert response.status == 200
    login = await response.json()
    assert login["token_type"] == "bearer" and login["expires_in"] == 3600
    claims = jwt.decode(login["access_token"], options={"verify_signature": False})
    assert claims["role"] == "user"
    assert claims["aud"] == "tollgate-api" and claims["iss"] == "tollgate-test"
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(login["access_token"])["alg"] == "EdDSA"

    me = await client.get("/api/me", headers={"Authorization": f"Bearer {login['access_token']}"})
    assert me.status == 200
    profile = await me.json()
    assert profile["id"] == claims["sub"] and profile["role"] == "user"
    assert profile["username"] == "ada" and profile["email"] == "ada@example.com"
    assert profile["balance"] == "0.00"
    assert profile["created_at"]


async def test_login_by_email_is_case_insensitive(stack: Stack) -> None:
    account = await sign_up(stack.gateway, "grace")
    assert await log_in(stack.gateway, account.email.upper())


async def test_wrong_password_and_unknown_user_get_the_same_401(stack: Stack) -> None:
    await sign_up(stack.gateway, "linus")
    wrong = await stack.gateway.post(
        "/api/auth/login", json={"login": "linus", "password": "not the password at all"}
    )
    unknown = await stack.gateway.post(
        "/api/auth/login", json={"login": "nobody_here", "password": "not the password at all"}
    )
    assert wrong.status == unknown.status == 401
    assert await wrong.read() == await unknown.read()


async def test_duplicate_username_is_409(stack: Stack) -> None:
    # A taken email is answered as a fresh sign-up: tests/auth/test_signup_enumeration.py.
    await sign_up(stack.gateway, "margaret")
    same_username = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": "m2@example.com", "username": "Margaret", "password": PASSWORD},
    )
    assert same_username.status == 409
    assert "username" in (await same_username.json())["error"]["message"]


async def test_a_username_equal_after_normalisation_is_taken(stack: Stack) -> None:
    await sign_up(stack.gateway, "timothy")
    for spelling in ("ｔｉｍｏｔｈｙ", "ＴＩＭＯＴＨＹ"):
        response = await stack.gateway.post(
            "/api/auth/signup",
            json={"email": "t2@example.com", "username": spelling, "password": PASSWORD},
        )
        assert response.status == 409, spelling
        assert "username" in (await response.json())["error"]["message"]
    # A spelling that is not plain letters, digits and `_.-` once normalised is refused too.
    dotted = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": "t3@example.com", "username": "t\u0130mothy", "password": PASSWORD},
    )
    assert dotted.status in (409, 422)


async def test_a_username_change_to_a_taken_spelling_is_409(stack: Stack) -> None:
    await sign_up(stack.gateway, "dorothy")
    other = await sign_up(stack.gateway)
    response = await stack.gateway.patch(
        "/api/me", json={"username": "ＤＯＲＯＴＨＹ"}, headers=other.headers
    )
    assert response.status == 409
    renamed = await stack.gateway.patch(
        "/api/me", json={"username": "Ｄｏｒａ"}, headers=other.headers
    )
    assert renamed.status == 200
    assert (await renamed.json())["username"] == "Dora"
    assert await log_in(stack.gateway, "DORA")


async def test_weak_password_is_422_with_every_reason(stack: Stack) -> None:
    for password, reason in [
        ("short1", "at least 10 characters"),
        ("password123", "most common passwords"),
        ("1234567890", "most common passwords"),
        ("aaaaaaaaaaaa", "fewer than 4 different characters"),
        ("barbara-rocks-2026", "must not contain the username"),
    ]:
        response = await stack.gateway.post(
            "/api/auth/signup",
            json={"email": "barbara@example.com", "username": "barbara", "password": password},
        )
        assert response.status == 422, password
        body = await response.json()
        assert any(reason in detail for detail in body["error"]["details"]), (password, body)


async def test_invalid_email_and_username_are_422(stack: Stack) -> None:
    response = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": "not-an-email", "username": "a b", "password": PASSWORD},
    )
    assert response.status == 422
    details = (await response.json())["error"]["details"]
    assert any(d.startswith("email:") for d in details)
    assert any(d.startswith("username:") for d in details)


async def test_patch_me_changes_username_and_display_name(stack: Stack) -> None:
    account = await sign_up(stack.gateway, "alan")
    other = await sign_up(stack.gateway, "turing")
    response = await stack.gateway.patch(
        "/api/me",
        json={"username": "alan2", "display_name": "Alan T."},
        headers=account.headers,
    )
    assert response.status == 200
    profile = await response.json()
    assert profile["username"] == "alan2" and profile["display_name"] == "Alan T."
    taken = await stack.gateway.patch(
        "/api/me", json={"username": other.username}, headers=account.headers
    )
    assert taken.status == 409
    refused = await stack.gateway.patch(
        "/api/me", json={"role": "admin", "email": "x@example.com"}, headers=account.headers
    )
    assert refused.status == 422
    assert (await stack.gateway.get("/api/me", headers=account.headers)).status == 200
    me = await (await stack.gateway.get("/api/me", headers=account.headers)).json()
    assert me["role"] == "user"


async def test_me_requires_authentication(stack: Stack) -> None:
    response = await stack.gateway.get("/api/me")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_signup_may_name_the_account_language(stack: Stack, db: Any) -> None:
    """The console passes its page's language: the account's pages and its very
    first mail (the verification) are in it; without one, English; anything
    else is 422."""
    for username, language in (("lin", "zh-CN"), ("lovelace", None)):
        body = {"email": f"{username}@example.com", "username": username, "password": PASSWORD}
        if language is not None:
            body["language"] = language
        response = await stack.gateway.post("/api/auth/signup", json=body)
        assert response.status == 201, await response.text()
        token = await log_in(stack.gateway, username)
        me = await stack.gateway.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert (await me.json())["language"] == (language or "en")
        mailed = await db.fetchval(
            "SELECT language FROM auth.outbox WHERE recipient = $1", f"{username}@example.com"
        )
        assert mailed == (language or "en")
    refused = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": "x@example.com", "username": "x_y", "password": PASSWORD, "language": "fr"},
    )
    assert refused.status == 422
    assert any(d.startswith("language:") for d in (await refused.json())["error"]["details"])
