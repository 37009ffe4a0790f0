"""Mail templates: both languages, links from the public URL, HTML escaped."""

from __future__ import annotations

import pytest

from shared.mail import templates
from shared.mail.templates import Link

BASE = "https://console.tollgate.example/app"


@pytest.mark.parametrize("name", templates.TEMPLATES)
@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_every_template_renders_in_both_languages(name: str, language: str) -> None:
    mail = templates.render(
        name,
        recipient="ada@example.com",
        language=language,
        public_url=BASE,
        context={
            "name": "Ada",
            "email": "ada@example.com",
            "hours": 24,
            "minutes": 30,
            "title": "t",
            "message": "m",
            # notices (services/auth/notices.py) and account tokens (issue 16, points 2, 3)
            "ip": "192.0.2.1",
            "time": "2026-12-05 10:00 UTC",
            "user_agent": "curl/8",
            "reset_url": f"{BASE}/forgot-password",
            "key_name": "k",
            "prefix": "tg-abc",
            "username": "ada",
            "new_email": "new@example.com",
            "old_email": "old@example.com",
            "reset": False,
            "left": 9,  # recovery codes (services/auth/totp_handlers.py)
            # the low-balance alert (services/billing/low_balance.py)
            "threshold": "5.00",
            "balance": "4.90",
            "currency": "USD",
            # spend anomalies (services/billing/anomaly_alerts.py)
            "spent": "12.00",
            "usual": "0.50",
            "keys": [{"name": "ci", "prefix": "tg-abc", "spent": "12.00", "suspended": True}],
            "suspended": True,
            "quiet_hours": 24,
            "user_id": "5ffcbd72-b431-4b2f-a588-7a27ad41076a",
            "user_email": "user@example.com",
        },
        link=Link(path="/go", query={"token": "x y&z"}),
    )
    assert mail.language == language
    assert mail.subject and "\n" not in mail.subject
    link = "https://console.tollgate.example/app/go?token=x+y%26z"
    assert link in mail.text
    assert f'href="{link}"' in mail.html
    assert mail.html.startswith("<!doctype html>")
    assert f'lang="{language}"' in mail.html
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in mail.subject + mail.text)
    assert chinese == (language == "zh-CN")


def test_html_is_escaped_and_text_is_not() -> None:
    mail = templates.render(
        "notice",
        recipient="ada@example.com",
        language="en",
        public_url=BASE,
        context={"name": "<b>Ada</b>", "title": "key created", "message": "a & b"},
    )
    assert "&lt;b&gt;Ada&lt;/b&gt;" in mail.html and "<b>Ada" not in mail.html
    assert "a &amp; b" in mail.html
    assert "Hello <b>Ada</b>," in mail.text
    assert mail.subject == "Tollgate: key created"


def test_an_unknown_language_falls_back_to_english() -> None:
    mail = templates.render(
        "reset_password",
        recipient="a@example.com",
        language="fr",
        public_url=BASE,
        context={"name": "A", "minutes": 30},
        link=Link(path="/reset", query={}),
    )
    assert mail.language == "en" and mail.subject == "Reset your Tollgate password"


@pytest.mark.parametrize("path", ["//evil.example/x", "https://evil.example/", "reset"])
def test_a_link_cannot_leave_the_public_url(path: str) -> None:
    with pytest.raises(ValueError):
        templates.link_url(BASE, Link(path=path, query={}))


def test_a_missing_value_is_an_error_not_an_empty_mail() -> None:
    with pytest.raises(Exception, match="hours"):
        templates.render(
            "verify_email",
            recipient="a@example.com",
            language="en",
            public_url=BASE,
            context={"name": "A", "email": "a@example.com"},
            link=Link(path="/v", query={}),
        )
