"""Two-factor sign-in with TOTP, through the gateway, on real PostgreSQL and Redis:
enrol, confirm, the login's second step, codes accepted once, recovery codes
spent once under concurrency, throttling, turning it off, and the lockout case."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree

import pytest
import redis.asyncio as aioredis

from services.auth import totp
from services.auth.second_factor import CHALLENGE_TRIES
from services.gateway.admission.principals import Principal
from services.gateway.edge import api_routes
from shared.errors import Forbidden
from tests.accounts import PASSWORD, sign_up
from tests.browsers import CONSOLE_ORIGIN, session_morsel
from tests.conftest import Stack
from tests.two_factor import (
    Client,
    enrol,
    event_kinds,
    login,
    mfa_token,
    profile,
    second_step,
    steady_step,
    turn_on,
)

WRONG = "wrong password!!"


async def test_enrolment_answers_the_secret_its_uri_and_a_qr_code(stack: Stack) -> None:
    client = stack.gateway
    account = await sign_up(client)
    body = await enrol(client, account)
    secret = body["secret"]
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/Tollgate:{account.email}"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Tollgate"]
    svg = ElementTree.fromstring(body["qr_svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert (await profile(client, account))["totp_enabled"] is False
    # A pending enrolment is not on: the login still answers a JWT.
    plain = await login(client, account.username)
    assert "access_token" in await plain.json()
    # Enrolling again replaces the pending secret: a code of the old one is refused.
    renewed = (await enrol(client, account))["secret"]
    assert renewed != secret
    step = await steady_step()
    stale = await client.post(
        "/api/me/totp/confirm",
        json={"code": totp.code_at(secret, step)},
        headers=account.headers,
    )
    assert stale.status == 422
    assert (await profile(client, account))["totp_enabled"] is False


async def test_confirm_refuses_a_wrong_code_then_turns_it_on_with_ten_codes(
    stack: Stack, db: Any
) -> None:
    client = stack.gateway
    account = await sign_up(client)
    none_pending = await client.post(
        "/api/me/totp/confirm", json={"code": "123456"}, headers=account.headers
    )
    assert none_pending.status == 409
    secret = (await enrol(client, account))["secret"]
    step = await steady_step()
    right = totp.code_at(secret, step)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for code in (wrong, "abcdef", "", "1" * 64, totp.code_at(secret, step - 3)):
        refused = await client.post(
            "/api/me/totp/confirm", json={"code": code}, headers=account.headers
        )
        assert refused.status == 422, code
    too_long = await client.post(
        "/api/me/totp/confirm", json={"code": "1" * 65}, headers=account.headers
    )
    assert too_long.status == 422
    confirmed = await client.post(
        "/api/me/totp/confirm", json={"code": f"{right[:3]} {right[3:]}"}, headers=account.headers
    )
    assert confirmed.status == 200, await confirmed.text()
    assert confirmed.headers["Cache-Control"] == "no-store"
    codes = (await confirmed.json())["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    assert (await profile(client, account))["totp_enabled"] is True
    assert "totp_enabled" in await event_kinds(client, account)
    mails = await db.fetch(
        "SELECT recipient, template FROM auth.outbox WHERE template LIKE 'totp%'"
    )
    assert [(row["recipient"], row["template"]) for row in mails] == [
        (account.email, "totp_enabled")
    ]
    again = await client.post("/api/me/totp/confirm", json={"code": right}, headers=account.headers)
    assert again.status == 409
    enrol_again = await client.post("/api/me/totp", headers=account.headers)
    assert enrol_again.status == 409


async def test_two_concurrent_confirmations_turn_it_on_once(stack: Stack, db: Any) -> None:
    client = stack.gateway
    account = await sign_up(client)
    secret = (await enrol(client, account))["secret"]
    code = totp.code_at(secret, await steady_step())
    answers = await asyncio.gather(
        *(
            client.post("/api/me/totp/confirm", json={"code": code}, headers=account.headers)
            for _ in range(3)
        )
    )
    statuses = sorted(answer.status for answer in answers)
    # The losers were refused the code (422) or found it already on (409), by timing.
    assert statuses[0] == 200 and set(statuses[1:]) <= {409, 422}, statuses
    (winner,) = [answer for answer in answers if answer.status == 200]
    codes = (await winner.json())["recovery_codes"]
    stored = await db.fetchval(
        "SELECT count(*) FROM auth.recovery_codes WHERE user_id = $1", uuid.UUID(account.id)
    )
    assert stored == len(codes) == 10
    token = await mfa_token(client, account.username)
    assert (await second_step(client, token, codes[0])).status == 200


@pytest.mark.parametrize("path", ["/api/me/totp", "/api/me/totp/confirm"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_api_key_cannot_touch_two_factor(path: str, method: str) -> None:
    route = api_routes.route_for(path)
    assert route.owner is api_routes.Owner.AUTH and not route.public
    key = Principal(user_id=uuid.uuid4(), role="user", via="api_key")
    with pytest.raises(Forbidden):
        api_routes.authorise(route, method, key)
    api_routes.authorise(route, method, Principal(user_id=uuid.uuid4(), role="user", via="jwt"))
    assert api_routes.route_for("/api/auth/login/mfa").public


async def test_login_asks_for_the_code_and_a_code_works_once(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    token = await mfa_token(client, on.account.username)
    done = await second_step(client, token, on.code(0))
    assert done.status == 200, await done.text()
    assert done.headers["Cache-Control"] == "no-store"
    access = (await done.json())["access_token"]
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status == 200 and (await me.json())["id"] == on.account.id
    # The token is spent.
    assert (await second_step(client, token, on.code(1))).status == 401
    # The same code (its time step) is refused on the next login, a later one works.
    token = await mfa_token(client, on.account.username)
    reused = await second_step(client, token, on.code(0))
    assert reused.status == 401
    assert (await second_step(client, token, on.code(-1))).status == 401  # older: refused too
    assert (await second_step(client, token, on.code(1))).status == 200
    kinds = await event_kinds(client, on.account)
    assert {"mfa_challenged", "mfa_failed", "login"} <= set(kinds)


async def test_a_recovery_code_works_once(stack: Stack, db: Any) -> None:
    client = stack.gateway
    on = await turn_on(client)
    code = on.recovery_codes[0]
    token = await mfa_token(client, on.account.username)
    # Read forgivingly: case, hyphen and spaces do not matter.
    typed = " ".join(code.replace("-", "").upper())
    done = await second_step(client, token, typed)
    assert done.status == 200, await done.text()
    token = await mfa_token(client, on.account.username)
    assert (await second_step(client, token, code)).status == 401
    assert (await second_step(client, token, on.recovery_codes[1])).status == 200
    assert "recovery_code_used" in await event_kinds(client, on.account)
    mailed = await db.fetch(
        "SELECT template FROM auth.outbox WHERE template = 'recovery_code_used'"
    )
    assert len(mailed) == 2  # one notice per recovery code used


async def test_two_concurrent_uses_of_one_recovery_code_one_succeeds(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    for code in on.recovery_codes[:3]:
        first, second = [await mfa_token(client, on.account.username) for _ in range(2)]
        answers = await asyncio.gather(
            second_step(client, first, code), second_step(client, second, code)
        )
        assert sorted(answer.status for answer in answers) == [200, 401]


async def test_two_concurrent_uses_of_one_totp_code_one_succeeds(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    tokens = [await mfa_token(client, on.account.username) for _ in range(4)]
    answers = await asyncio.gather(*(second_step(client, t, on.code(0)) for t in tokens))
    assert sorted(answer.status for answer in answers) == [200, 401, 401, 401]


async def test_one_token_finishes_one_login_under_concurrency(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    token = await mfa_token(client, on.account.username)
    codes = [on.recovery_codes[0], on.recovery_codes[1], on.code(0)]
    answers = await asyncio.gather(*(second_step(client, token, code) for code in codes))
    assert sorted(answer.status for answer in answers).count(200) == 1


async def test_codes_of_another_account_are_refused(stack: Stack) -> None:
    client = stack.gateway
    alice, bob = await turn_on(client), await turn_on(client)
    token = await mfa_token(client, bob.account.username)
    assert (await second_step(client, token, alice.recovery_codes[0])).status == 401
    assert (await second_step(client, token, alice.code(0))).status == 401
    # alice's recovery code was not spent by that attempt
    token = await mfa_token(client, alice.account.username)
    assert (await second_step(client, token, alice.recovery_codes[0])).status == 200


async def test_wrong_codes_are_throttled_like_failed_logins(
    stack: Stack, forwarded: Client
) -> None:
    on = await turn_on(stack.gateway)
    limit = stack.auth_settings.login_failures_per_account
    token = await mfa_token(forwarded, on.account.username, ip="203.0.113.20")
    for number in range(limit):
        wrong = await second_step(forwarded, token, f"{number:06d}", ip="203.0.113.20")
        assert wrong.status == 401
    throttled = await second_step(forwarded, token, on.code(0), ip="203.0.113.20")
    assert throttled.status == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= stack.auth_settings.login_window_seconds
    relogin = await login(forwarded, on.account.username, ip="203.0.113.20")
    assert relogin.status == 429
    # The owner elsewhere is not locked out.
    token = await mfa_token(forwarded, on.account.username, ip="198.51.100.20")
    assert (await second_step(forwarded, token, on.code(0), ip="198.51.100.20")).status == 200


async def test_a_token_is_void_after_its_tries_from_any_sources(
    stack: Stack, forwarded: Client
) -> None:
    on = await turn_on(stack.gateway)
    token = await mfa_token(forwarded, on.account.username, ip="198.51.100.30")
    for number in range(CHALLENGE_TRIES):
        ip = f"203.0.113.{40 + number}"  # each source stays under its own limit
        assert (await second_step(forwarded, token, f"{number:06d}", ip=ip)).status == 401
    void = await second_step(forwarded, token, on.code(0), ip="203.0.113.99")
    assert void.status == 401
    token = await mfa_token(forwarded, on.account.username, ip="198.51.100.30")
    assert (await second_step(forwarded, token, on.code(0), ip="198.51.100.30")).status == 200


async def test_an_expired_unknown_or_malformed_token_is_refused(
    stack: Stack, redis: aioredis.Redis
) -> None:
    client = stack.gateway
    on = await turn_on(client)
    token = await mfa_token(client, on.account.username)
    keys = [key async for key in redis.scan_iter("tg:mfa:challenge:*")]
    assert len(keys) == 1
    assert token.encode() not in keys[0] and token.encode() not in (await redis.get(keys[0]) or b"")
    assert 0 < await redis.ttl(keys[0]) <= 300
    await redis.delete(*keys)  # what the expiry does after five minutes
    assert (await second_step(client, token, on.code(0))).status == 401
    assert (await second_step(client, "x" * 43, on.code(0))).status == 401
    assert (await second_step(client, "x" * 101, on.code(0))).status == 422
    nul = await client.post("/api/auth/login/mfa", json={"mfa_token": "a\x00b", "code": "1"})
    assert nul.status == 422
    missing = await client.post("/api/auth/login/mfa", json={"mfa_token": token})
    assert missing.status == 422
    not_a_string = await client.post("/api/auth/login/mfa", json={"mfa_token": 1, "code": 2})
    assert not_a_string.status == 422
    # The code was not spent by the refused attempts.
    token = await mfa_token(client, on.account.username)
    assert (await second_step(client, token, on.code(0))).status == 200


async def test_turning_off_needs_the_password_and_a_code(stack: Stack, db: Any) -> None:
    client = stack.gateway
    on = await turn_on(client)
    headers = on.account.headers
    no_body = await client.delete("/api/me/totp", headers=headers)
    assert no_body.status == 400
    only_password = await client.delete(
        "/api/me/totp", json={"password": PASSWORD}, headers=headers
    )
    assert only_password.status == 422
    wrong_password = await client.delete(
        "/api/me/totp", json={"password": WRONG, "code": on.code(0)}, headers=headers
    )
    assert wrong_password.status == 403
    wrong_code = await client.delete(
        "/api/me/totp", json={"password": PASSWORD, "code": "000000"}, headers=headers
    )
    assert wrong_code.status == 403
    # The code offered with the wrong password was not spent.
    done = await client.delete(
        "/api/me/totp", json={"password": PASSWORD, "code": on.code(0)}, headers=headers
    )
    assert done.status == 204, await done.text()
    assert (await profile(client, on.account))["totp_enabled"] is False
    user_id = uuid.UUID(on.account.id)
    assert await db.fetchval("SELECT count(*) FROM auth.totp WHERE user_id = $1", user_id) == 0
    assert (
        await db.fetchval("SELECT count(*) FROM auth.recovery_codes WHERE user_id = $1", user_id)
        == 0
    )
    templates = await db.fetch("SELECT template FROM auth.outbox ORDER BY id")
    assert [row["template"] for row in templates if "totp" in row["template"]] == [
        "totp_enabled",
        "totp_disabled",
    ]
    kinds = await event_kinds(client, on.account)
    assert "totp_disabled" in kinds and "mfa_failed" in kinds
    plain = await login(client, on.account.username)
    assert "access_token" in await plain.json()
    again = await client.delete(
        "/api/me/totp", json={"password": PASSWORD, "code": on.code(1)}, headers=headers
    )
    assert again.status == 409
    # It can be turned on again, with a new secret and new codes.
    renewed = await turn_on(client, on.account)
    assert renewed.secret != on.secret
    token = await mfa_token(client, on.account.username)
    assert (await second_step(client, token, on.recovery_codes[0])).status == 401
    assert (await second_step(client, token, renewed.recovery_codes[0])).status == 200


async def test_a_recovery_code_can_turn_it_off(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    done = await client.delete(
        "/api/me/totp",
        json={"password": PASSWORD, "code": on.recovery_codes[4]},
        headers=on.account.headers,
    )
    assert done.status == 204


async def test_wrong_proofs_to_turn_it_off_are_throttled(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    for _ in range(stack.auth_settings.login_failures_per_account):
        wrong = await client.delete(
            "/api/me/totp", json={"password": WRONG, "code": "000000"}, headers=on.account.headers
        )
        assert wrong.status == 403
    throttled = await client.delete(
        "/api/me/totp", json={"password": PASSWORD, "code": on.code(0)}, headers=on.account.headers
    )
    assert throttled.status == 429
    assert (await profile(client, on.account))["totp_enabled"] is True


async def test_new_recovery_codes_replace_the_old_ones(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    refused = await client.post(
        "/api/me/totp/recovery-codes", json={"code": "000000"}, headers=on.account.headers
    )
    assert refused.status == 403
    response = await client.post(
        "/api/me/totp/recovery-codes", json={"code": on.code(0)}, headers=on.account.headers
    )
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    fresh = (await response.json())["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(on.recovery_codes)
    token = await mfa_token(client, on.account.username)
    assert (await second_step(client, token, on.recovery_codes[0])).status == 401
    assert (await second_step(client, token, fresh[0])).status == 200


async def test_past_the_all_sources_threshold_the_owner_gets_the_second_factor(
    stack: Stack, forwarded: Client
) -> None:
    on = await turn_on(stack.gateway)
    threshold = stack.auth_settings.login_failures_per_account_all_sources
    for number in range(threshold):
        ip = f"10.{number // 250}.{number % 250}.3"
        assert (await login(forwarded, on.account.username, WRONG, ip=ip)).status == 401
    new_source = "198.51.100.40"
    # The right password from a new source is asked for the second factor, not refused...
    token = await mfa_token(forwarded, on.account.username, ip=new_source)
    done = await second_step(forwarded, token, on.code(0), ip=new_source)
    assert done.status == 200, await done.text()
    # A wrong password gets the same answer (it tells a guesser nothing), counts as a
    # failure, and its second step refuses even the right code (which stays unspent).
    blind = await mfa_token(forwarded, on.account.username, WRONG, ip="198.51.100.41")
    refused = await second_step(forwarded, blind, on.code(1), ip="198.51.100.41")
    assert refused.status == 401
    token = await mfa_token(forwarded, on.account.username, ip="198.51.100.42")
    assert (await second_step(forwarded, token, on.code(1), ip="198.51.100.42")).status == 200
    events = await forwarded.get("/api/me/security-events", headers=on.account.headers)
    failed = [e for e in (await events.json())["data"] if e["ip"] == "198.51.100.41"]
    assert {e["kind"] for e in failed} == {"login_failed", "mfa_challenged", "mfa_failed"}
    # An account without two-factor is still challenged (403) from a new source.
    plain = await sign_up(stack.gateway)
    for number in range(threshold):
        ip = f"10.{number // 250}.{number % 250}.4"
        assert (await login(forwarded, plain.username, WRONG, ip=ip)).status == 401
    refused = await login(forwarded, plain.username, ip=new_source)
    assert refused.status == 403


async def test_a_browser_gets_its_session_only_after_the_second_step(stack: Stack) -> None:
    client = stack.gateway
    on = await turn_on(client)
    first = await client.post(
        "/api/auth/login",
        json={"login": on.account.username, "password": PASSWORD, "session": True},
        headers={"Origin": CONSOLE_ORIGIN},
    )
    assert first.status == 200, await first.text()
    assert not [name for name in first.cookies if name.endswith("tg_session")]
    token = (await first.json())["mfa_token"]
    body = {"mfa_token": token, "code": on.code(0)}
    # Another site's page cannot finish a browser's sign-in (login CSRF), nor spend the code.
    foreign = await client.post(
        "/api/auth/login/mfa", json=body, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status == 403
    done = await client.post("/api/auth/login/mfa", json=body, headers={"Origin": CONSOLE_ORIGIN})
    assert done.status == 200, await done.text()
    assert "access_token" not in await done.json() and (await done.json())["csrf_token"]
    morsel = session_morsel(done)
    client.session.cookie_jar.clear()
    me = await client.get("/api/me", headers={"Cookie": f"{morsel.key}={morsel.value}"})
    assert me.status == 200 and (await me.json())["id"] == on.account.id
