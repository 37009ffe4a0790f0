"""The console through a real gateway, auth, billing and mail sink, over real HTTP."""

from __future__ import annotations

import re
import secrets

import aiohttp

from services.console.security import CSP
from tests.accounts import PASSWORD
from tests.auth.account_mail import open_mail
from tests.conftest import AiohttpServer, Stack
from tests.console.conftest import ConsoleStack, browser_session, start_console_stack

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def _assert_page_headers(response: aiohttp.ClientResponse) -> None:
    assert response.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("text/html")


async def test_pages_render_with_the_security_headers(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    for path in ("/login", "/signup", "/forgot-password", "/signup/check-mail"):
        async with browser.get(path) as response:
            assert response.status == 200, path
            _assert_page_headers(response)
            page = await response.text()
            assert '<script src="/static/htmx.min.js" defer></script>' in page
            assert "<script>" not in page and "style=" not in page
    async with browser.get("/static/htmx.min.js") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] in ("application/javascript", "text/javascript")
        assert response.headers["Cache-Control"].startswith("public")
        assert (await response.read()).startswith(b"var htmx=function()")


async def test_the_overview_sends_a_stranger_to_sign_in(browser: aiohttp.ClientSession) -> None:
    async with browser.get("/", allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/login"


async def test_sign_up_verify_sign_in_overview_sign_out(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    username = f"web_{secrets.token_hex(4)}"
    email = f"{username}@example.com"
    form = {"email": email, "username": username, "password": PASSWORD}
    async with browser.post("/signup", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert response.headers["Location"] == "/signup/check-mail"

    mail = await open_mail(console_stack.sink, email, "Verify your email")
    found = re.search(
        re.escape(console_stack.url) + r"/verify-email\?token=([A-Za-z0-9_-]+)", mail["text"]
    )
    assert found is not None
    token = found.group(1)
    async with browser.get(f"/verify-email?token={token}") as response:
        page = await response.text()
        assert f'name="token" value="{token}"' in page  # a GET alone verifies nothing
    async with browser.post("/verify-email", data={"token": token}) as response:
        assert response.status == 200
        assert "Your email address is verified" in await response.text()
    async with browser.post("/verify-email", data={"token": token}) as response:
        assert response.status == 400  # used once

    login = {"login": username, "password": PASSWORD}
    async with browser.post("/login", data=login, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert response.headers["Location"] == "/"
        assert "tg_session=" in response.headers["Set-Cookie"]
        assert "HttpOnly" in response.headers["Set-Cookie"]
    async with browser.get("/") as response:
        assert response.status == 200
        _assert_page_headers(response)
        page = await response.text()
    assert f"Signed in as {username}" in page
    assert "<dd>0" in page  # balance, held and available of a new account
    assert "not verified" not in page
    (csrf,) = set(_CSRF_INPUT.findall(page))
    assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf}"}}\'' in page

    # Sign-out without the CSRF token: the API refuses it, the session lives on.
    async with browser.post("/logout", data={}, allow_redirects=False) as response:
        assert response.status == 403
        assert "This form has expired" in await response.text()
    async with browser.get("/", allow_redirects=False) as response:
        assert response.status == 200
    # Another session's token is worthless here.
    async with browser.post(
        "/logout", data={"csrf_token": "A" * len(csrf)}, allow_redirects=False
    ) as response:
        assert response.status == 403
    async with browser.post(
        "/logout", data={"csrf_token": csrf}, allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/login"
    async with browser.get("/", allow_redirects=False) as response:
        assert response.status == 303


async def test_a_form_from_another_origin_is_refused(console_stack: ConsoleStack) -> None:
    for origin in ("https://evil.example", "null", None):
        headers = {} if origin is None else {"Origin": origin}
        async with aiohttp.ClientSession() as client:
            async with client.post(
                f"{console_stack.url}/login",
                data={"login": "someone", "password": PASSWORD},
                headers=headers,
                allow_redirects=False,
            ) as response:
                assert response.status == 403, origin
                assert "Set-Cookie" not in response.headers


async def test_a_wrong_password_is_a_sentence_and_sets_no_cookie(
    browser: aiohttp.ClientSession,
) -> None:
    login = {"login": "nobody_here", "password": "not the password at all"}
    async with browser.post("/login", data=login, allow_redirects=False) as response:
        assert response.status == 401
        assert "Set-Cookie" not in response.headers
        page = await response.text()
    assert "The login or password is wrong." in page
    assert 'value="nobody_here"' in page
    assert "not the password at all" not in page


async def test_provider_errors_are_sentences_and_nothing_is_reflected(
    browser: aiohttp.ClientSession,
) -> None:
    async with browser.get("/login?error=oauth_cancelled") as response:
        assert "Sign-in with the provider was cancelled." in await response.text()
    async with browser.get("/login?error=%3Cscript%3Ealert(1)%3C/script%3E") as response:
        page = await response.text()
    assert "Sign-in with the provider failed." in page
    assert "alert(1)" not in page
    async with browser.get('/login?mfa_token="><script>x</script>') as response:
        page = await response.text()
    assert "<script>x" not in page and "&#34;&gt;&lt;script&gt;" in page
    assert 'action="/login/mfa"' in page
    async with browser.get("/login?link_token=abc&provider=github") as response:
        page = await response.text()
    assert 'action="/login/link"' in page and 'name="link_token" value="abc"' in page


async def test_the_console_is_internal_and_reserved_paths_are_not_its(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(console_stack.console.make_url("/login")) as response:
            assert response.status == 401  # no internal token: only the gateway may call it
        async with client.get(
            console_stack.console.make_url("/login"),
            headers={"X-Tollgate-Internal-Token": "guessed"},
        ) as response:
            assert response.status == 401
    reserved = ("/metrics", "/v1", "/api", "/api/nothing-here", "/.well-known/nothing", "/v1beta")
    for path in (*reserved, "/internal/users/x", "/internal/keys/verify"):
        async with browser.get(path) as response:
            assert response.status in (401, 404), path
            assert response.headers["Content-Type"].startswith("application/json"), path
    async with browser.get("/healthz") as response:
        assert response.status == 200


async def test_language_from_accept_language_then_the_cookie_and_the_theme(
    console_stack: ConsoleStack,
) -> None:
    async with browser_session(console_stack, **{"Accept-Language": "zh-CN,zh;q=0.9"}) as client:
        async with client.get("/login") as response:
            page = await response.text()
        assert '<html lang="zh-CN" class="theme-system">' in page
        assert "邮箱或用户名" in page
        form = {"lang": "en", "theme": "dark", "next": "/signup"}
        async with client.post("/preferences", data=form, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/signup"
        async with client.get("/signup") as response:
            page = await response.text()
        assert '<html lang="en" class="theme-dark">' in page
        assert "Create an account" in page
        hostile = ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\r\nX-A: b")
        for target in (*hostile, "/" + "a" * 5000, "/a\x00b", "javascript:alert(1)"):
            form = {"theme": "nonsense", "next": target}
            async with client.post("/preferences", data=form, allow_redirects=False) as response:
                assert response.headers["Location"] == "/"
        async with client.get("/signup") as response:
            assert 'class="theme-dark"' in await response.text()


async def test_a_client_cannot_send_the_internal_headers_through(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    """A forged client address or internal token from outside is dropped by the
    gateway; the console still gets the gateway's token and works."""
    headers = {"X-Tollgate-Client-Ip": "203.0.113.9", "X-Tollgate-Internal-Token": "forged"}
    async with browser.get("/login", headers=headers) as response:
        assert response.status == 200


async def _signed_in_ip(base: ConsoleStack, **headers: str) -> str:
    """Sign up and in through the console's pages; the address auth recorded for the session."""
    username = f"ip_{secrets.token_hex(4)}"
    form = {"email": f"{username}@example.com", "username": username, "password": PASSWORD}
    async with browser_session(base, **headers) as client:
        async with client.post("/signup", data=form, allow_redirects=False) as response:
            assert response.status == 303
        login = {"login": username, "password": PASSWORD}
        async with client.post("/login", data=login, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
        async with client.get("/api/me/sessions") as response:
            assert response.status == 200, await response.text()
            (session,) = (await response.json())["data"]
    ip: str = session["ip"]
    return ip


async def test_the_api_sees_the_browsers_address_not_the_consoles(
    stack: Stack, aiohttp_server: AiohttpServer
) -> None:
    """Throttles and session lists need the browser's address: the gateway hands
    it to the console, the console back to the API with the internal token. A
    client's own X-Tollgate-Client-Ip is dropped at the edge."""
    trusting = await start_console_stack(stack, aiohttp_server, trust_forwarded_for=True)
    assert await _signed_in_ip(trusting, **{"X-Forwarded-For": "198.51.100.7"}) == "198.51.100.7"
    plain = await start_console_stack(stack, aiohttp_server)
    forged = {"X-Tollgate-Client-Ip": "203.0.113.9", "X-Forwarded-For": "203.0.113.9"}
    assert await _signed_in_ip(plain, **forged) == "127.0.0.1"


async def test_one_browsers_cookie_never_reaches_another(
    stack: Stack, aiohttp_server: AiohttpServer
) -> None:
    """The gateway's client keeps no cookies: with a console reached by name (as
    in compose), a cookie jar there would keep one browser's session from a
    console answer and send it along with the next browser's request."""
    named = await start_console_stack(stack, aiohttp_server, console_host="localhost")
    assert await _signed_in_ip(named) == "127.0.0.1"  # someone signs in through it
    async with browser_session(named) as stranger:
        async with stranger.get("/", allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/login"
