"""The settings pages through the console: profile, language, theme, email,
password, two-factor (QR code, first code, recovery codes, new codes, off) and
sessions (list, end one, sign out everywhere else). Every form is posted as a
browser without JavaScript posts it, with the page's CSRF token."""

from __future__ import annotations

import base64
import re

import aiohttp

from services.auth import totp
from services.console.pages.settings_sessions import device_of
from tests.accounts import PASSWORD, sign_up
from tests.auth.account_mail import open_mail
from tests.console.conftest import ConsoleStack, browser_session
from tests.two_factor import steady_step

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "a brand new passphrase 42"


async def _sign_in(browser: aiohttp.ClientSession, login: str, password: str = PASSWORD) -> None:
    form = {"login": login, "password": password}
    async with browser.post("/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()


async def _page(browser: aiohttp.ClientSession, path: str) -> tuple[str, str]:
    """The page's HTML and the CSRF token its forms carry."""
    async with browser.get(path, allow_redirects=False) as response:
        assert response.status == 200, (path, response.status)
        assert response.headers["Cache-Control"] == "no-store"
        page = await response.text()
    assert "style=" not in page and "<script>" not in page and " onclick" not in page
    found = _CSRF_INPUT.search(page)
    assert found is not None, path
    return page, found.group(1)


async def _me(browser: aiohttp.ClientSession) -> dict[str, object]:
    async with browser.get("/api/me") as response:
        assert response.status == 200
        body: dict[str, object] = await response.json()
        return body


async def test_settings_pages_send_a_stranger_to_sign_in(browser: aiohttp.ClientSession) -> None:
    for path in ("/settings", "/settings/security", "/settings/sessions"):
        async with browser.get(path, allow_redirects=False) as response:
            assert response.status == 303, path
            assert response.headers["Location"] == "/login"


async def test_the_profile_saves_names_language_and_time_zone(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await sign_up(console_stack.stack.gateway)
    other = await sign_up(console_stack.stack.gateway)
    await _sign_in(browser, account.username)
    page, token = await _page(browser, "/settings")
    assert f'value="{account.username}"' in page and 'aria-current="page"' in page
    assert '<option value="Asia/Shanghai" >' in page or "Asia/Shanghai" in page

    taken = {"csrf_token": token, "username": other.username, "language": "en", "time_zone": ""}
    async with browser.post("/settings/profile", data=taken) as response:
        assert response.status == 409
        assert "This username is taken" in await response.text()

    form = {
        "csrf_token": token,
        "display_name": "Ada L.",
        "username": account.username,
        "language": "zh-CN",
        "time_zone": "Asia/Shanghai",
    }
    async with browser.post("/settings/profile", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert response.headers["Location"] == "/settings?saved=profile"
        assert "lang=zh-CN" in response.headers["Set-Cookie"]
    me = await _me(browser)
    assert (me["display_name"], me["language"], me["time_zone"]) == (
        "Ada L.",
        "zh-CN",
        "Asia/Shanghai",
    )
    # Signed in, the account's language comes before the cookie and Accept-Language.
    browser.cookie_jar.update_cookies({"lang": "en"})
    async with browser.get("/settings?saved=profile", headers={"Accept-Language": "en"}) as answer:
        page = await answer.text()
    assert '<html lang="zh-CN"' in page and "个人资料已保存。" in page
    assert '<option value="Asia/Shanghai" selected>' in page
    sessions, _ = await _page(browser, "/settings/sessions")
    assert " CST</dd>" in sessions and " UTC</dd>" not in sessions  # times in the account's zone

    # Clearing the time zone sends null; a zone the database does not list is refused.
    form = {**form, "time_zone": "Mars/Olympus_Mons"}
    async with browser.post("/settings/profile", data=form) as response:
        assert response.status == 422
    form = {**form, "time_zone": ""}
    async with browser.post("/settings/profile", data=form, allow_redirects=False) as response:
        assert response.status == 303
    assert (await _me(browser))["time_zone"] is None


async def test_the_footer_language_sticks_to_the_account_when_signed_in(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await sign_up(console_stack.stack.gateway)
    await _sign_in(browser, account.username)
    page, token = await _page(browser, "/")
    assert page.count(f'name="csrf_token" value="{token}"') >= 2  # sign-out and the footer
    form = {"next": "/settings", "lang": "zh-CN", "theme": "dark", "csrf_token": token}
    async with browser.post("/preferences", data=form, allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"] == "/settings"
    assert (await _me(browser))["language"] == "zh-CN"
    browser.cookie_jar.update_cookies({"lang": "en"})  # another browser's cookie, say
    page, _ = await _page(browser, "/settings")
    assert '<html lang="zh-CN" class="theme-dark">' in page

    # Signed out, the form has no token and only sets the cookie.
    async with browser_session(console_stack) as stranger:
        async with stranger.get("/login") as response:
            assert 'name="csrf_token"' not in await response.text()


async def test_sign_up_gives_the_account_the_page_language(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    browser.cookie_jar.update_cookies({"lang": "zh-CN"})
    form = {"email": "mei@example.com", "username": "mei_web", "password": PASSWORD}
    async with browser.post("/signup", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    await _sign_in(browser, "mei_web")
    assert (await _me(browser))["language"] == "zh-CN"
    mail = await open_mail(console_stack.sink, "mei@example.com", "")
    assert mail["subject"] != "Verify your email"  # the verification mail is in Chinese


async def test_changing_the_password_keeps_this_browser_signed_in(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await sign_up(console_stack.stack.gateway)
    await _sign_in(browser, account.username)
    async with browser_session(console_stack) as elsewhere:
        await _sign_in(elsewhere, account.username)
        page, token = await _page(browser, "/settings/security")
        assert 'action="/settings/password"' in page

        wrong = {"csrf_token": token, "current_password": "wrong", "new_password": NEW_PASSWORD}
        async with browser.post("/settings/password", data=wrong) as response:
            assert response.status == 403
            assert "The current password is wrong." in await response.text()
        weak = {"csrf_token": token, "current_password": PASSWORD, "new_password": "123"}
        async with browser.post("/settings/password", data=weak) as response:
            assert response.status == 422

        right = {"csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD}
        async with browser.post("/settings/password", data=right, allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
            assert answer.headers["Location"] == "/settings/security?saved=password"
            assert "tg_session=" in answer.headers["Set-Cookie"]  # the fresh session
        page, _ = await _page(browser, "/settings/security?saved=password")
        assert "Your password is changed." in page
        async with elsewhere.get("/settings", allow_redirects=False) as response:
            assert response.status == 303  # every other session ended
    async with browser_session(console_stack) as later:
        await _sign_in(later, account.username, NEW_PASSWORD)


async def test_changing_the_email_says_a_link_was_mailed(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await sign_up(console_stack.stack.gateway)
    await _sign_in(browser, account.username)
    _, token = await _page(browser, "/settings/security")
    new = f"new.{account.username}@example.com"
    wrong = {"csrf_token": token, "email": new, "password": "not it"}
    async with browser.post("/settings/email", data=wrong) as response:
        assert response.status == 403
        page = await response.text()
        assert "The current password is wrong." in page and f'value="{new}"' in page
    form = {"csrf_token": token, "email": new, "password": PASSWORD}
    async with browser.post("/settings/email", data=form) as response:
        assert response.status == 200
        page = await response.text()
    assert f"We sent a link to {new}." in page and account.email in page
    mail = await open_mail(console_stack.sink, new, "")
    assert (await _me(browser))["email"] == account.email  # until the link is opened

    found = re.search(
        re.escape(console_stack.url) + r"/confirm-email\?token=([A-Za-z0-9_-]+)", mail["text"]
    )
    assert found is not None
    async with browser.get(f"/confirm-email?token={found.group(1)}") as response:
        page = await response.text()
    assert f'name="token" value="{found.group(1)}"' in page  # opening the link changes nothing
    assert (await _me(browser))["email"] == account.email
    async with browser.post("/confirm-email", data={"token": found.group(1)}) as response:
        assert response.status == 200, await response.text()
        assert f"Your account now uses {new}." in await response.text()
    async with browser.get("/settings", allow_redirects=False) as response:
        assert response.status == 303  # every session ended with the change
    await _sign_in(browser, new)
    async with browser.post("/confirm-email", data={"token": found.group(1)}) as response:
        assert response.status == 400
        assert "This link is not valid." in await response.text()


async def test_two_factor_on_with_the_qr_code_new_codes_and_off(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await sign_up(console_stack.stack.gateway)
    await _sign_in(browser, account.username)
    page, token = await _page(browser, "/settings/security")
    assert "Two-factor sign-in is off." in page

    async with browser.post("/settings/two-factor", data={"csrf_token": token}) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        page = await response.text()
    assert "style=" not in page and "<svg" not in page  # the QR code is an image
    qr = re.search(r'<img class="qr" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert qr is not None
    assert base64.b64decode(qr.group(1)).startswith(b"<svg")
    found = re.search(r'<code class="secret"[^>]*>([A-Z2-7]+)</code>', page)
    assert found is not None
    secret = found.group(1)
    step = await steady_step()

    wrong = {
        "csrf_token": token,
        "secret": secret,
        "qr": "data:image/svg+xml;base64," + qr.group(1),
    }
    wrong["code"] = "000000" if totp.code_at(secret, step) != "000000" else "111111"
    async with browser.post("/settings/two-factor/confirm", data=wrong) as response:
        assert response.status == 422
        page = await response.text()
    assert "The code is wrong" in page and secret in page and qr.group(1) in page
    tampered = {**wrong, "qr": "javascript:alert(1)"}
    async with browser.post(
        "/settings/two-factor/confirm", data=tampered, allow_redirects=False
    ) as response:
        assert response.status == 303  # not shown again: only a QR data URL is

    right = {**wrong, "code": totp.code_at(secret, step - 1)}
    async with browser.post("/settings/two-factor/confirm", data=right) as response:
        assert response.status == 200, await response.text()
        page = await response.text()
    codes = re.findall(r"<li><code>([^<]+)</code></li>", page)
    assert len(codes) == 10 and "shown only this once" in page
    assert (await _me(browser))["totp_enabled"] is True

    page, token = await _page(browser, "/settings/security")
    assert 'action="/settings/two-factor/off"' in page
    renew = {"csrf_token": token, "code": totp.code_at(secret, step)}
    async with browser.post("/settings/two-factor/recovery-codes", data=renew) as response:
        assert response.status == 200
        fresh = re.findall(r"<li><code>([^<]+)</code></li>", await response.text())
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    async with browser.post("/settings/two-factor/recovery-codes", data=renew) as response:
        assert response.status == 403  # that code was spent
        assert "The code is wrong" in await response.text()

    off = {"csrf_token": token, "password": "not it", "code": fresh[0]}
    async with browser.post("/settings/two-factor/off", data=off) as response:
        assert response.status == 403
        assert "The password or the code is wrong." in await response.text()
    off = {"csrf_token": token, "password": PASSWORD, "code": fresh[0]}
    async with browser.post("/settings/two-factor/off", data=off, allow_redirects=False) as answer:
        assert answer.status == 303
        assert answer.headers["Location"] == "/settings/security?saved=two_factor_off"
    assert (await _me(browser))["totp_enabled"] is False


async def test_sessions_list_end_one_and_sign_out_everywhere_else(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession
) -> None:
    account = await sign_up(console_stack.stack.gateway)
    await _sign_in(browser, account.username)
    async with (
        browser_session(console_stack, **{"User-Agent": "Phone Browser/1"}) as phone,
        browser_session(console_stack, **{"User-Agent": "Tablet Browser/2"}) as tablet,
    ):
        await _sign_in(phone, account.username)
        await _sign_in(tablet, account.username)
        page, token = await _page(browser, "/settings/sessions")
        assert "Phone Browser/1" in page and "Tablet Browser/2" in page and "127.0.0.1" in page
        assert page.count("This browser") == 1 and " UTC</dd>" in page  # no zone chosen: UTC
        assert page.index("This browser") < page.index("Phone Browser/1")
        ids = re.findall(r'name="session_id" value="([0-9a-f-]{36})"', page)
        assert len(ids) == 2  # no button for this one: "Sign out" at the top ends it

        async with phone.get("/api/me/sessions") as listed:
            phone_id = next(s["id"] for s in (await listed.json())["data"] if s["current"])
        form = {"csrf_token": token, "session_id": phone_id}
        async with browser.post(
            "/settings/sessions/revoke", data=form, allow_redirects=False
        ) as response:
            assert response.status == 303
        async with phone.get("/settings", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/login"
        page, _ = await _page(browser, "/settings/sessions?saved=revoked")
        assert "That session is signed out." in page and "Phone Browser/1" not in page

        bad = {"csrf_token": token, "session_id": "../../keys"}
        async with browser.post(
            "/settings/sessions/revoke", data=bad, allow_redirects=False
        ) as response:
            assert response.headers["Location"] == "/settings/sessions"

        async with browser.post(
            "/settings/sessions/revoke-others", data={"csrf_token": token}, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/settings/sessions?saved=others&count=1"
        async with tablet.get("/", allow_redirects=False) as response:
            assert response.status == 303
        page, _ = await _page(browser, "/settings/sessions?saved=others&count=1")
        assert "Other sessions signed out: 1." in page and "Tablet Browser/2" not in page
        assert "Sign out everywhere else" not in page  # nothing else is left


def test_a_session_is_named_by_its_browser_and_system() -> None:
    chrome_linux = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    edge_windows = chrome_linux.replace("X11; Linux x86_64", "Windows NT 10.0; Win64; x64") + (
        " Edg/131.0.0.0"
    )
    safari_iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    firefox_mac = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0"
    )
    assert device_of(chrome_linux) == {"browser": "Chrome", "system": "Linux"}
    assert device_of(edge_windows) == {"browser": "Edge", "system": "Windows"}
    assert device_of(safari_iphone) == {"browser": "Safari", "system": "iOS"}
    assert device_of(firefox_mac) == {"browser": "Firefox", "system": "macOS"}
    headless = chrome_linux.replace("Chrome/", "HeadlessChrome/")
    assert device_of(headless) == {"browser": "Chrome", "system": "Linux"}
    assert device_of("curl/8.5.0") == {"browser": "curl", "system": ""}
    assert device_of("Phone Browser/1") == {"browser": "", "system": ""}
