"""The keys page through a real gateway, auth and mail sink: list, create,
rotate, revoke; the secret on the one answer that creates it, nowhere else;
every change needs the session's CSRF token."""

from __future__ import annotations

import html
import re
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from services.console.pages import keys
from tests.accounts import PASSWORD
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack, browser_session, start_console_stack
from tests.console.model_catalog import serve_mock_models

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r"\btg-[0-9A-Za-z]{38}\b")
_KEY_LINK = re.compile(r'href="/keys/([0-9a-f-]{36})/revoke"')


async def _sign_in(browser: aiohttp.ClientSession) -> str:
    """A new account signed in on `browser`; its CSRF token."""
    username = f"keys_{secrets.token_hex(4)}"
    signup = {"email": f"{username}@example.com", "username": username, "password": PASSWORD}
    async with browser.post("/api/auth/signup", json=signup) as response:
        assert response.status == 201, await response.text()
    login = {"login": username, "password": PASSWORD}
    async with browser.post("/login", data=login, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return await _csrf(browser)


async def _csrf(browser: aiohttp.ClientSession) -> str:
    async with browser.get("/keys") as response:
        assert response.status == 200
        tokens: set[str] = set(_CSRF_INPUT.findall(await response.text()))
    (token,) = tokens
    return token


async def _page(browser: aiohttp.ClientSession, path: str) -> str:
    async with browser.get(path, allow_redirects=False) as response:
        assert response.status == 200, (path, response.status)
        return await response.text()


async def _models_of(console_stack: ConsoleStack, secret: str) -> int:
    """The status of `GET /v1/models` with `secret`: whether the key works."""
    async with aiohttp.ClientSession() as client:
        async with client.get(
            f"{console_stack.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}
        ) as response:
            return response.status


async def test_a_stranger_is_sent_to_sign_in(browser: aiohttp.ClientSession) -> None:
    for path in ("/keys", "/keys/new", f"/keys/{'0' * 8}-0000-0000-0000-{'0' * 12}/revoke"):
        async with browser.get(path, allow_redirects=False) as response:
            assert response.status == 303, path
            assert response.headers["Location"] == "/login"


async def test_create_list_rotate_and_revoke_a_key(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    await serve_mock_models(console_stack)
    csrf = await _sign_in(browser)
    assert "You have no active API keys." in await _page(browser, "/keys")

    form = await _page(browser, "/keys/new")
    assert "<legend>OpenAI</legend>" in form and "<legend>Anthropic</legend>" in form
    assert 'name="models" value="gpt-4o-mini"' in form
    assert 'type="date"' in form

    last_day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    created = {
        "csrf_token": csrf,
        "name": "laptop",
        "models": "gpt-4o-mini",
        "expires": last_day,
    }
    async with browser.post("/keys", data=created, allow_redirects=False) as response:
        assert response.status == 201, await response.text()
        assert "Location" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"
        answer = await response.text()
    (secret,) = set(_SECRET.findall(answer))
    assert 'data-copy="key-secret"' in answer and '<script src="/static/copy.js" defer>' in answer
    # The OpenAI SDK's setup holds the key, the public URL and the key's model.
    assert "OpenAI Python SDK" in answer and "curl" in answer
    program = html.unescape(answer.split("OpenAI Python SDK", 1)[1].split("</pre>", 1)[0])
    assert f"{console_stack.url}/v1" in program and secret in program
    assert "gpt-4o-mini" in program
    assert "Claude Code" not in answer, "the key may use no Anthropic model"
    assert await _models_of(console_stack, secret) == 200

    listed = await _page(browser, "/keys")
    assert secret not in listed and secret[12:] not in listed
    assert "laptop" in listed and secret[:11] + "…" in listed
    assert "gpt-4o-mini" in listed and f"{last_day} 23:59 UTC" in listed
    (key_id,) = _KEY_LINK.findall(listed)

    confirm = await _page(browser, f"/keys/{key_id}/rotate")
    assert "Rotate the key “laptop”?" in confirm and secret not in confirm
    async with browser.post(f"/keys/{key_id}/rotate", data={"csrf_token": csrf}) as response:
        assert response.status == 201
        rotated = await response.text()
    (new_secret,) = set(_SECRET.findall(rotated))
    assert new_secret != secret and "Key rotated" in rotated
    assert await _models_of(console_stack, secret) == 401
    assert await _models_of(console_stack, new_secret) == 200

    listed = await _page(browser, "/keys")
    assert secret not in listed and new_secret not in listed
    (new_id,) = _KEY_LINK.findall(listed)
    assert new_id != key_id
    assert "Revoke the key “laptop”?" in await _page(browser, f"/keys/{new_id}/revoke")
    async with browser.post(
        f"/keys/{new_id}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/keys?revoked=1"
    listed = await _page(browser, "/keys?revoked=1")
    assert "The key is revoked" in listed and "You have no active API keys." in listed
    assert await _models_of(console_stack, new_secret) == 401


async def test_a_key_for_every_model_gets_every_client_s_setup(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    await serve_mock_models(console_stack)
    csrf = await _sign_in(browser)
    async with browser.post("/keys", data={"csrf_token": csrf, "name": "all"}) as response:
        assert response.status == 201
        answer = await response.text()
    for title in (
        "Claude Code",
        "Codex CLI",
        "Gemini CLI",
        "OpenAI Python SDK",
        "Anthropic Python SDK",
        "Google Gen AI Python SDK",
        "curl",
    ):
        assert f"<summary>{title}</summary>" in answer, title
    assert "All models" in await _page(browser, "/keys")


async def test_every_change_needs_the_csrf_token(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    csrf = await _sign_in(browser)
    async with browser.post("/keys", data={"name": "no token"}) as response:
        assert response.status == 403
        page = await response.text()
    assert "This form has expired" in page and not _SECRET.search(page)
    assert "You have no active API keys." in await _page(browser, "/keys")

    async with browser.post("/keys", data={"csrf_token": csrf, "name": "kept"}) as response:
        assert response.status == 201
    (key_id,) = _KEY_LINK.findall(await _page(browser, "/keys"))
    for action in ("revoke", "rotate"):
        async with browser.post(f"/keys/{key_id}/{action}", data={}) as response:
            assert response.status == 403, action
            assert "This form has expired" in await response.text()
    assert _KEY_LINK.findall(await _page(browser, "/keys")) == [key_id]


async def test_the_form_shows_what_is_wrong_and_keeps_what_was_typed(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    csrf = await _sign_in(browser)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    for expires, status, said in (
        ("not a date", 422, "The expiry date is not a date"),
        (yesterday, 422, "expires_at: must be in the future"),
    ):
        form = {"csrf_token": csrf, "name": "ci runner", "expires": expires}
        async with browser.post("/keys", data=form) as response:
            assert response.status == status
            page = await response.text()
        assert said in page and 'value="ci runner"' in page
    async with browser.post("/keys", data={"csrf_token": csrf, "name": "  "}) as response:
        assert response.status == 422
        assert "name: must not be blank" in await response.text()


async def test_an_unverified_address_is_told_to_verify_first(
    stack: Stack, aiohttp_server: AiohttpServer
) -> None:
    base = await start_console_stack(stack, aiohttp_server, require_verified_email=True)
    async with browser_session(base) as browser:
        csrf = await _sign_in(browser)
        async with browser.post("/keys", data={"csrf_token": csrf, "name": "x"}) as response:
            assert response.status == 403
            page = await response.text()
    assert "Verify your email address first" in page
    assert 'value="x"' in page


async def test_another_person_s_key_is_not_found(console_stack: ConsoleStack) -> None:
    async with browser_session(console_stack) as owner:
        csrf = await _sign_in(owner)
        async with owner.post("/keys", data={"csrf_token": csrf, "name": "mine"}) as response:
            assert response.status == 201
        (key_id,) = _KEY_LINK.findall(await _page(owner, "/keys"))
    async with browser_session(console_stack) as stranger:
        csrf = await _sign_in(stranger)
        for action in ("revoke", "rotate"):
            async with stranger.get(f"/keys/{key_id}/{action}") as response:
                assert response.status == 404
            async with stranger.post(
                f"/keys/{key_id}/{action}", data={"csrf_token": csrf}
            ) as response:
                assert response.status == 404
        async with stranger.get("/keys/not-a-uuid/revoke") as response:
            assert response.status == 404


def test_a_key_is_shown_in_utc_with_its_status() -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    shown = keys._shown(
        {
            "id": "k",
            "name": "ci",
            "prefix": "tg-abcdefgh",
            "models": None,
            "created_at": "2026-12-05T19:30:00+08:00",
            "last_used_at": None,
            "expires_at": "2026-12-05T11:59:59+00:00",
        },
        now,
    )
    assert shown["created"] == "2026-12-05 11:30 UTC"
    assert shown["last_used"] is None and shown["models"] is None
    assert shown["expires"] == "2026-12-05 11:59 UTC" and shown["expired"]
    assert not keys._shown({"expires_at": None}, now)["expired"]
    assert keys.expiry_end("2027-01-31") == datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)


def test_a_key_is_shown_in_the_visitors_zone_and_expires_at_its_midnight() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    shown = keys._shown({"created_at": "2026-12-05T11:30:00+00:00"}, now, shanghai)
    assert shown["created"] == "2026-12-05 19:30 Asia/Shanghai"
    end = keys.expiry_end("2026-12-31", shanghai)
    assert end.astimezone(UTC) == datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)


def test_dollars_read_with_cents_and_no_trailing_zeros() -> None:
    """A budget and what a key spent, as the API writes them (9 places from usage)."""
    assert keys.usd("5") == "5.00"
    assert keys.usd("500") == "500.00"
    assert keys.usd("0.000000000") == "0.00"
    assert keys.usd("1.230000000") == "1.23"
    assert keys.usd("0.123456789") == "0.123456789"
    assert keys.usd("not money") == "not money"


async def test_a_model_no_longer_offered_keeps_its_box_on_the_key_settings(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    """Unticked unseen, the key would allow every model: its box stays, ticked."""
    csrf = await _sign_in(browser)
    async with browser.post(
        "/api/keys", json={"name": "one", "models": ["gpt-4o-mini"]}, headers={"X-CSRF-Token": csrf}
    ) as response:
        assert response.status == 201, await response.text()
        key_id = (await response.json())["id"]
    form = await _page(browser, f"/keys/{key_id}/edit")  # the catalog offers nothing here
    assert "No longer offered" in form
    assert 'name="models" value="gpt-4o-mini" checked' in form
