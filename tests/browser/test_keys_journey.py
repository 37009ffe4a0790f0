"""The keys journey in a real browser: a newcomer creates a key on the keys
page, copies the OpenAI SDK setup shown with it, runs that program as they
would (the venv's Python, against the stack, whose mock provider answers),
then revokes the key, and the same program is refused with 401.
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal

from playwright.async_api import Page, expect

from tests.browser import people
from tests.browser.conftest import NARROW, WIDE, Shoot
from tests.console.conftest import ConsoleStack
from tests.console.model_catalog import serve_mock_models
from tests.relay import credit


async def _run_python(program: str) -> tuple[int, str, str]:
    """Run `program` as a person would paste it into a file and run it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        program,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", "OPENAI_MAX_RETRIES": "0"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_newcomer_creates_a_key_runs_its_setup_and_revokes_it(
    page: Page, console_stack: ConsoleStack, shoot: Shoot
) -> None:
    await serve_mock_models(console_stack)
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=console_stack.url
    )
    await people.sign_up(page, username="grace", email="grace@example.com")
    await people.verify(
        page, await people.open_verification_mail(console_stack.sink, "grace@example.com")
    )
    await people.sign_in(page, "grace")
    me = await (await page.request.get("/api/me")).json()
    await credit(console_stack.stack, me["id"], Decimal(5))

    await page.goto("/keys")
    await expect(page.get_by_text("You have no active API keys.")).to_be_visible()
    await shoot(page, "keys-empty")
    await page.goto("/keys/new")
    await shoot(page, "create-a-key")
    secret = await people.create_a_key(page, "laptop", models=("gpt-4o-mini",))
    assert secret.startswith("tg-")
    await shoot(page, "key-created")
    await page.emulate_media(color_scheme="dark")
    await shoot(page, "key-created-dark")
    await page.emulate_media(color_scheme="light")

    await people.open_setup_by_keyboard(page, "curl")
    program = await people.copy_setup(page, "OpenAI Python SDK")
    assert secret in program and f"{console_stack.url}/v1" in program
    await shoot(page, "openai-setup-copied")
    await page.set_viewport_size(NARROW)  # the code scrolls inside its block, never the page
    assert await page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    await page.set_viewport_size(WIDE)
    status, out, err = await _run_python(program)
    assert status == 0, err
    assert out.strip(), "the program printed the model's reply"

    await page.goto("/keys")
    listed = page.get_by_role("article", name="laptop")
    await expect(listed).to_contain_text(secret[:11])
    await expect(listed).not_to_contain_text(secret)
    await expect(listed).to_contain_text("gpt-4o-mini")
    await shoot(page, "keys-list")

    await people.ask_to_revoke_key(page, "laptop")
    await shoot(page, "revoke-confirm")
    await people.confirm_revoking(page)
    await shoot(page, "key-revoked")

    await people.choose_language(page, "简体中文")
    await expect(page.get_by_role("heading", name="API 密钥")).to_be_visible()
    await shoot(page, "keys-zh-CN")

    status, out, err = await _run_python(program)
    assert status != 0
    assert "401" in err and "AuthenticationError" in err, err
