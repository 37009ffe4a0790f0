"""The API's words marked for translation are still the words the API says."""

from __future__ import annotations

from services.auth import accounts, passwords, verification
from services.console.api_messages import MESSAGES
from tests.console.conftest import ConsoleStack, browser_session


def test_the_marked_words_are_the_apis() -> None:
    said = [
        verification.NOT_VERIFIED,
        verification.INVALID_LINK,
        *accounts.username_problems("!"),
        *accounts.email_problems("not an address"),
        f"password: at least {passwords.MIN_LENGTH} characters",
        f"password: at most {passwords.MAX_LENGTH} characters",
    ]
    for words in said:
        assert words in MESSAGES, words


async def test_a_refusal_reads_in_the_visitors_language(console_stack: ConsoleStack) -> None:
    form = {"email": "x@example.com", "username": "!", "password": "short"}
    async with browser_session(console_stack, **{"Accept-Language": "zh-CN"}) as browser:
        async with browser.post("/signup", data=form) as response:
            assert response.status == 422
            page = await response.text()
    assert "注册被拒绝" in page
    assert "用户名：3 到 32 个字符" in page
    assert "密码：至少 10 个字符" in page
    assert "sign-up refused" not in page
