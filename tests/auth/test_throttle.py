"""Failed logins are throttled per account and source, per source, and over all
sources; successful ones are not, and one source cannot lock the owner out."""

from __future__ import annotations

import secrets

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from tests.accounts import PASSWORD, log_in, sign_up
from tests.conftest import Stack


async def test_repeated_failures_get_429_with_retry_after(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    limit = stack.auth_settings.login_failures_per_account
    for _ in range(limit):
        response = await stack.gateway.post(
            "/api/auth/login", json={"login": account.username, "password": "wrong password!!"}
        )
        assert response.status == 401
    throttled = await stack.gateway.post(
        "/api/auth/login", json={"login": account.username, "password": PASSWORD}
    )
    assert throttled.status == 429
    retry_after = int(throttled.headers["Retry-After"])
    assert 0 < retry_after <= stack.auth_settings.login_window_seconds
    assert (await throttled.json())["error"]["code"] == "too_many_requests"
    # Another account from the same IP is not locked by this account's failures.
    other = await sign_up(stack.gateway)
    assert await log_in(stack.gateway, other.username)


async def test_unknown_accounts_are_throttled_the_same_way(stack: Stack) -> None:
    for _ in range(stack.auth_settings.login_failures_per_account):
        response = await stack.gateway.post(
            "/api/auth/login", json={"login": "ghost", "password": "wrong password!!"}
        )
        assert response.status == 401
    response = await stack.gateway.post(
        "/api/auth/login", json={"login": "ghost", "password": "wrong password!!"}
    )
    assert response.status == 429


async def test_failures_from_one_ip_across_accounts_are_throttled(stack: Stack) -> None:
    per_ip = stack.auth_settings.login_failures_per_ip
    for attempt in range(per_ip):
        response = await stack.gateway.post(
            "/api/auth/login", json={"login": f"spray{attempt}", "password": "wrong password!!"}
        )
        assert response.status == 401
    victim = await stack.gateway.post(
        "/api/auth/login", json={"login": "someone-new", "password": "wrong password!!"}
    )
    assert victim.status == 429
    assert "Retry-After" in victim.headers


async def test_successful_logins_are_not_limited(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    for _ in range(stack.auth_settings.login_failures_per_ip + 5):
        assert await log_in(stack.gateway, account.username)


async def test_failed_logins_are_recorded_as_security_events(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    response = await stack.gateway.post(
        "/api/auth/login",
        json={"login": account.username, "password": "wrong password!!"},
        headers={"User-Agent": "pytest-agent/1.0"},
    )
    assert response.status == 401
    created = await stack.gateway.post("/api/keys", json={"name": "k"}, headers=account.headers)
    key_id = (await created.json())["id"]
    await stack.gateway.post(f"/api/keys/{key_id}/rotate", headers=account.headers)
    events = await (
        await stack.gateway.get("/api/me/security-events", headers=account.headers)
    ).json()
    kinds = [event["kind"] for event in events["data"]]
    for kind in ("signup", "login", "login_failed", "key_created", "key_rotated"):
        assert kind in kinds
    failed = next(event for event in events["data"] if event["kind"] == "login_failed")
    assert failed["ip"] == "127.0.0.1"
    assert failed["user_agent"] == "pytest-agent/1.0"
    assert failed["detail"] == {"reason": "bad_password"}


Client = TestClient[web.Request, web.Application]
WRONG = "wrong password!!"


async def attempt(client: Client, ip: str, login: str, password: str) -> ClientResponse:
    return await client.post(
        "/api/auth/login",
        json={"login": login, "password": password},
        headers={"X-Forwarded-For": ip},
    )


async def fail_until_limit(stack: Stack, client: Client, ip: str, logins: list[str]) -> None:
    for number in range(stack.auth_settings.login_failures_per_account):
        login = logins[number % len(logins)]
        assert (await attempt(client, ip, login, WRONG)).status == 401


async def test_failures_from_one_source_do_not_lock_the_owner_out_elsewhere(
    stack: Stack, forwarded: Client
) -> None:
    account = await sign_up(stack.gateway)
    await fail_until_limit(stack, forwarded, "203.0.113.5", [account.username])
    attacker = await attempt(forwarded, "203.0.113.5", account.username, PASSWORD)
    assert attacker.status == 429
    assert 0 < int(attacker.headers["Retry-After"]) <= stack.auth_settings.login_window_seconds
    owner = await attempt(forwarded, "198.51.100.7", account.username, PASSWORD)
    assert owner.status == 200, await owner.text()


async def test_email_and_username_count_against_one_account(
    stack: Stack, forwarded: Client
) -> None:
    account = await sign_up(stack.gateway)
    await fail_until_limit(stack, forwarded, "203.0.113.6", [account.email])
    for login in (account.username, account.email.upper(), account.username.upper()):
        response = await attempt(forwarded, "203.0.113.6", login, PASSWORD)
        assert response.status == 429, login


async def test_unicode_spellings_of_the_username_are_the_same_account(
    stack: Stack, forwarded: Client
) -> None:
    account = await sign_up(stack.gateway, f"tim_{secrets.token_hex(3)}")
    dotted = account.username.replace("i", "\u0130")  # İ, LATIN CAPITAL LETTER I WITH DOT ABOVE
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) if ch.isalnum() else ch for ch in account.username)
    # Failures under one spelling lock that source out under every spelling...
    await fail_until_limit(stack, forwarded, "203.0.113.7", [dotted, account.username])
    for login in (account.username, dotted, fullwidth):
        response = await attempt(forwarded, "203.0.113.7", login, PASSWORD)
        assert response.status == 429, login
    # ...and the owner signs in from elsewhere under any of them.
    for login in (dotted, fullwidth):
        response = await attempt(forwarded, "198.51.100.8", login, PASSWORD)
        assert response.status == 200, await response.text()


async def test_many_sources_get_additional_verification_known_ones_get_in(
    stack: Stack, forwarded: Client
) -> None:
    account = await sign_up(stack.gateway)  # signed up and logged in from 127.0.0.1
    threshold = stack.auth_settings.login_failures_per_account_all_sources
    for number in range(threshold):
        ip = f"10.{number // 250}.{number % 250}.1"
        assert (await attempt(forwarded, ip, account.username, WRONG)).status == 401
    for password in (PASSWORD, WRONG):  # a new source learns nothing about the password
        new = await attempt(forwarded, "198.51.100.9", account.username, password)
        assert new.status == 403
        assert (await new.json())["error"]["code"] == "additional_verification_required"
    ghost = await attempt(forwarded, "198.51.100.9", "ghost", WRONG)
    assert ghost.status == 401
    known = await attempt(forwarded, "127.0.0.1", account.email, PASSWORD)
    assert known.status == 200, await known.text()
    events = await (
        await stack.gateway.get("/api/me/security-events", headers=account.headers)
    ).json()
    assert "login_challenged" in [event["kind"] for event in events["data"]]


async def test_unknown_logins_past_the_threshold_look_the_same(
    stack: Stack, forwarded: Client
) -> None:
    threshold = stack.auth_settings.login_failures_per_account_all_sources
    for number in range(threshold):
        ip = f"10.{number // 250}.{number % 250}.2"
        assert (await attempt(forwarded, ip, "nobody_at_all", WRONG)).status == 401
    response = await attempt(forwarded, "198.51.100.10", "NOBODY_AT_ALL", WRONG)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "additional_verification_required"
