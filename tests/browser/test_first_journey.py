"""The first journey in a real browser: sign up, verify by mail, sign in, see
the overview, sign out. And what a hostile page cannot do with the session the
journey leaves in the browser: change something without the CSRF token, or
frame the console.
"""

from __future__ import annotations

import json
import re

from aiohttp import web
from playwright.async_api import Page, expect

from tests.browser import people
from tests.browser.conftest import Shoot
from tests.conftest import AiohttpServer
from tests.console.conftest import ConsoleStack


async def test_a_newcomer_signs_up_verifies_signs_in_and_out(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await page.goto("/signup")
    await shoot(page, "sign-up")
    await people.sign_up(page, username="ada", email="ada@example.com")
    await shoot(page, "check-your-mail")

    link = await people.open_verification_mail(console_stack.sink, "ada@example.com")
    assert link.startswith(console_stack.url + "/verify-email?token=")
    await page.goto(link)
    await shoot(page, "verify-email")
    await people.verify(page, link)
    await shoot(page, "email-verified")

    await page.goto("/login")
    await shoot(page, "sign-in")
    await people.sign_in(page, "ada")
    await expect(page).to_have_url(console_stack.url + "/")
    await expect(page.get_by_text("Signed in as ada")).to_be_visible()
    balance = page.get_by_role("region", name="Balance")
    await expect(balance.get_by_role("definition").first).to_have_text(
        re.compile(r"^\s*0(\.0+)?\b")
    )
    await shoot(page, "overview")

    await people.sign_out(page)
    await shoot(page, "signed-out")
    await people.open_overview(page)
    await expect(page).to_have_url(re.compile(r"/login\b"))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    await people.choose_language(page, "简体中文")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await shoot(page, "sign-in-zh-CN")


async def test_a_person_who_forgot_their_password_chooses_a_new_one(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await people.sign_up(page, username="hopper", email="hopper@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "hopper@example.com")
    )

    await people.ask_for_a_reset(page, "hopper@example.com")
    await shoot(page, "reset-link-sent")
    link = await people.open_reset_mail(console_stack.sink, "hopper@example.com")
    await page.goto(link)
    await shoot(page, "choose-a-new-password")
    await people.choose_a_new_password(page, link, "a brand new passphrase 42")
    await expect(page.get_by_role("status")).to_contain_text("new password is set")
    await shoot(page, "sign-in-after-reset")

    await people.try_to_sign_in(page, "hopper", people.PASSWORD)
    await expect(page.get_by_role("alert")).to_contain_text("wrong")
    await shoot(page, "old-password-refused")

    await people.sign_in(page, "hopper", "a brand new passphrase 42")
    await expect(page.get_by_text("Signed in as hopper")).to_be_visible()
    await shoot(page, "overview")

    # The link was used: it sets nothing a second time.
    await people.try_a_new_password(page, link, "yet another passphrase 43")
    await expect(page.get_by_role("alert")).to_be_visible()
    await shoot(page, "used-reset-link")


async def test_a_person_signs_in_and_out_with_the_keyboard_alone(
    page: Page, console_stack: ConsoleStack
) -> None:
    await people.sign_up(page, username="lovelace", email="lovelace@example.com")
    await people.sign_in_by_keyboard(page, "lovelace")
    await expect(page.get_by_text("Signed in as lovelace")).to_be_visible()

    await people.sign_out_by_keyboard(page)


async def test_the_session_cannot_change_anything_without_the_csrf_token(
    page: Page, console_stack: ConsoleStack, aiohttp_server: AiohttpServer
) -> None:
    await people.sign_up(page, username="grace", email="grace@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "grace@example.com")
    )
    await people.sign_in(page, "grace")
    origin = {"Origin": console_stack.url}

    # What another site's script could send with the cookie: refused, nothing made.
    for headers in ({}, origin, {**origin, "X-CSRF-Token": "forged"}):
        refused = await page.request.post("/api/keys", data={"name": "stolen"}, headers=headers)
        assert refused.status == 403, await refused.text()

    # Another site's page (another port of the same host: the same site, so
    # SameSite=Lax lets the cookie go) with a form posting to the API.
    site = await aiohttp_server(_prize_site(console_stack.url + "/api/keys"))
    lured = await page.context.new_page()
    await lured.goto(str(site.make_url("/")))
    async with lured.expect_navigation() as answered:
        await lured.get_by_role("button", name="Claim your prize").click()
    answer = await answered.value
    assert answer is not None and answer.status == 403, await answer.text()
    assert "cross-site" in await answer.text()
    await lured.close()

    listed = await page.request.get("/api/keys")
    assert listed.ok
    assert (await listed.json())["data"] == []

    # The console's own page carries the token, and with it the same request goes through.
    token = await _csrf_token(page)
    made = await page.request.post(
        "/api/keys", data={"name": "mine"}, headers={**origin, "X-CSRF-Token": token}
    )
    assert made.status == 201, await made.text()


async def test_no_page_of_the_console_can_be_framed(
    page: Page, console_stack: ConsoleStack
) -> None:
    for path in ("/login", "/signup", "/signup/check-mail", "/forgot-password", "/no-such-page"):
        response = await page.request.get(path)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path

    # Another site framing the sign-in page gets an empty frame, where the mail
    # sink's page (which forbids nothing) shows.
    framing = await page.context.new_page()
    sink = str(console_stack.sink.make_url("/"))
    await framing.set_content(
        f'<iframe title="console" src="{console_stack.url}/login"></iframe>'
        f'<iframe title="sink" src="{sink}"></iframe>'
    )
    console, shown = framing.frames[1:]
    assert shown.url == sink
    assert await shown.locator("body").inner_text() != ""
    assert await console.get_by_role("heading", name="Sign in").count() == 0
    assert await console.get_by_role("textbox").count() == 0


def _prize_site(target: str) -> web.Application:
    """Another site: one page whose button posts a JSON-looking form to `target`."""
    page = f"""<!doctype html><title>Prize</title>
<form method="post" action="{target}" enctype="text/plain">
<input type="hidden" name='{{"name": "stolen", "x": "' value='"}}'>
<button>Claim your prize</button></form>"""

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    return app


async def _csrf_token(page: Page) -> str:
    """The token the console's page gives its own scripts (htmx's `hx-headers`)."""
    headers = await page.locator("body").get_attribute("hx-headers")
    assert headers is not None, "the signed-in page carries no CSRF token"
    token: str = json.loads(headers)["X-CSRF-Token"]
    return token
