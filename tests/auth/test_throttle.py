"""Failed logins are throttled per account and per IP; successful ones are not."""

from __future__ import annotations

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
