"""Cloudflare Turnstile at sign-up: checked with siteverify (a double speaking its
documented format over real HTTP), the hostname checked, closed when
siteverify cannot answer, off unless configured."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from services.auth import turnstile
from services.auth.turnstile import TurnstileSettings
from services.mockturnstile.app import PATH, SEEN
from services.mockturnstile.app import create_app as create_siteverify
from services.mockturnstile.siteverify import DUMMY_TOKEN, FAILS, PASSES, SPENT, Widget
from tests.accounts import PASSWORD
from tests.auth.mailed import Client, mailed_stack
from tests.conftest import AiohttpClient, AiohttpServer, Stack
from tests.ports import free_ports

SITE_KEY = "1x00000000000000000000AA"


def _settings(url: str, secret: str = PASSES, hosts: str = "example.com") -> TurnstileSettings:
    return TurnstileSettings(
        secret_key=secret,
        site_key=SITE_KEY,
        verify_url=url,
        hostnames=frozenset(hosts.split(",")),
        timeout_seconds=2,
    )


async def _gateway(
    stack: Stack,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    settings: TurnstileSettings,
) -> Client:
    return (await mailed_stack(stack, aiohttp_server, aiohttp_client, turnstile=settings)).gateway


async def _sign_up(client: Client, username: str, token: str | None) -> Any:
    body: dict[str, Any] = {
        "email": f"{username}@example.com",
        "username": username,
        "password": PASSWORD,
    }
    if token is not None:
        body["turnstile_token"] = token
    return await client.post(
        "/api/auth/signup", json=body, headers={"X-Forwarded-For": "192.0.2.44"}
    )


async def _siteverify(aiohttp_server: AiohttpServer, **options: Any) -> TestServer:
    return await aiohttp_server(create_siteverify(**options))


async def test_a_passed_challenge_on_the_expected_host_signs_up(
    stack: Stack, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    double = await _siteverify(aiohttp_server)
    gateway = await _gateway(
        stack, aiohttp_server, aiohttp_client, _settings(str(double.make_url(PATH)))
    )
    options = await (await gateway.get("/api/auth/signup/options")).json()
    assert options == {"turnstile": {"site_key": SITE_KEY}, "refuses_disposable_email": False}
    response = await _sign_up(gateway, "solved", DUMMY_TOKEN)
    assert response.status == 201, await response.text()
    (seen,) = double.app[SEEN]
    assert seen["response"] == DUMMY_TOKEN and seen["remoteip"] == "192.0.2.44"
    assert uuid.UUID(seen["idempotency_key"])
    assert "secret" not in seen  # the double keeps it out; auth sent it (else no pass)


async def test_no_token_is_422_and_a_failed_or_spent_one_403(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    double = await _siteverify(aiohttp_server)
    url = str(double.make_url(PATH))
    gateway = await _gateway(stack, aiohttp_server, aiohttp_client, _settings(url))
    missing = await _sign_up(gateway, "no_token", None)
    assert missing.status == 422
    assert "turnstile_token" in str((await missing.json())["error"]["details"])
    forged = await _sign_up(gateway, "forged", "a.token.made.up")
    assert forged.status == 403
    error = (await forged.json())["error"]
    assert error["code"] == "turnstile_failed" and "invalid-input-response" in error["message"]
    for secret, code in ((FAILS, "invalid-input-response"), (SPENT, "timeout-or-duplicate")):
        other = await _gateway(stack, aiohttp_server, aiohttp_client, _settings(url, secret))
        refused = await _sign_up(other, f"refused_{secret[0]}", DUMMY_TOKEN)
        assert refused.status == 403
        assert code in (await refused.json())["error"]["message"]
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


async def test_a_token_solved_on_another_host_is_refused(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    double = await _siteverify(aiohttp_server, widget=Widget(hostname="evil.example"))
    gateway = await _gateway(
        stack,
        aiohttp_server,
        aiohttp_client,
        _settings(str(double.make_url(PATH)), hosts="tollgate.example,www.tollgate.example"),
    )
    response = await _sign_up(gateway, "elsewhere", DUMMY_TOKEN)
    assert response.status == 403
    body = await response.json()
    assert body["error"]["code"] == "turnstile_failed"
    assert "another site" in body["error"]["message"]
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


async def test_siteverify_unreachable_or_broken_is_503_closed(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    (port,) = free_ports(1)
    nothing = f"http://127.0.0.1:{port}{PATH}"
    broken = await _siteverify(aiohttp_server, answer_status=502)
    for url in (nothing, str(broken.make_url(PATH))):
        gateway = await _gateway(stack, aiohttp_server, aiohttp_client, _settings(url))
        response = await _sign_up(gateway, "closed", DUMMY_TOKEN)
        assert response.status == 503, url
        message = (await response.json())["error"]["message"]
        assert "Turnstile" in message and "cannot be checked" in message
    assert len(broken.app[SEEN]) == 1  # a 502 is an answer: no retry
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


async def test_off_unless_configured(stack: Stack) -> None:
    options = await (await stack.gateway.get("/api/auth/signup/options")).json()
    assert options == {"turnstile": None, "refuses_disposable_email": False}
    response = await stack.gateway.post(
        "/api/auth/signup",
        json={"email": "plain@example.com", "username": "plain", "password": PASSWORD},
    )
    assert response.status == 201
    assert turnstile.from_env({}, "https://tollgate.example") is None
    assert turnstile.from_env({"TURNSTILE_SECRET_KEY": " "}, "https://t.example") is None
    on = turnstile.from_env(
        {"TURNSTILE_SECRET_KEY": "0xsecret", "TURNSTILE_SITE_KEY": "0xsite"},
        "https://Tollgate.Example/console",
    )
    assert on is not None and on.hostnames == {"tollgate.example"}
    assert on.verify_url == turnstile.VERIFY_URL and on.site_key == "0xsite"
    assert "0xsecret" not in repr(on)
    listed = turnstile.from_env(
        {"TURNSTILE_SECRET_KEY": "s", "TURNSTILE_HOSTNAMES": "a.example, B.example"}, "https://x"
    )
    assert listed is not None and listed.hostnames == {"a.example", "b.example"}


async def test_odd_answers_and_tokens_are_refused_never_a_500(
    stack: Stack, db: Any, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    """A siteverify answer off the documented format is 503 (closed), a failure
    without error codes is 403, and a hostile token is 422 before any call."""
    answers: list[web.Response] = []

    async def siteverify(request: web.Request) -> web.Response:
        return answers.pop(0)

    odd = web.Application()
    odd.router.add_post(PATH, siteverify)
    server = await aiohttp_server(odd)
    gateway = await _gateway(
        stack, aiohttp_server, aiohttp_client, _settings(str(server.make_url(PATH)))
    )
    cases = [
        (web.Response(text="not json"), 503),
        (web.json_response(["success", True]), 503),
        (web.json_response({"success": "true", "hostname": "example.com"}), 503),
        (web.json_response({"success": False}), 403),
        (web.json_response({"success": False, "error-codes": "x"}), 403),
        (web.json_response({"success": False, "error-codes": ["<b>x</b>", 7]}), 403),
        (web.json_response({"success": True}), 403),  # no hostname: not an expected one
        (web.json_response({"success": True, "hostname": ["example.com"]}), 403),
    ]
    for answer, status in cases:
        answers.append(answer)
        response = await _sign_up(gateway, "oddity", DUMMY_TOKEN)
        assert response.status == status, (answer.text, await response.text())
        assert "<b>" not in await response.text()
    for token in ("x" * 2049, "a\x00b", "a\nb"):
        response = await _sign_up(gateway, "oddity", token)
        assert response.status == 422, token[:10]
    assert answers == [] and await db.fetchval("SELECT count(*) FROM auth.users") == 0
    passing = web.json_response({"success": True, "hostname": "EXAMPLE.com"})
    answers.append(passing)
    assert (await _sign_up(gateway, "oddity", DUMMY_TOKEN)).status == 201
