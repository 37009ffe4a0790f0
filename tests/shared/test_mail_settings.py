"""Mail settings: dev points at the sink, production needs its server named."""

from __future__ import annotations

import pytest

from shared.mail import settings as mail_settings
from shared.settings import SettingsError


def test_dev_defaults_point_at_the_mail_sink() -> None:
    mail = mail_settings.from_env({}, dev=True)
    assert mail is not None
    assert (mail.smtp_host, mail.smtp_port, mail.smtp_tls) == ("127.0.0.1", 8025, "none")
    assert mail_settings.public_url({}) == "http://127.0.0.1:8080"


def test_production_without_a_server_sends_nothing_and_with_one_defaults_to_starttls() -> None:
    assert mail_settings.from_env({}, dev=False) is None
    mail = mail_settings.from_env(
        {
            "SMTP_HOST": "smtp.example.com",
            "TOLLGATE_PUBLIC_URL": "https://tollgate.example",
            "SMTP_USERNAME": "u",
            "SMTP_PASSWORD": "pw-0123456789",
            "MAIL_FROM": "Tollgate <billing@tollgate.example>",
        },
        dev=False,
    )
    assert mail is not None
    assert (mail.smtp_port, mail.smtp_tls, mail.smtp_username) == (587, "starttls", "u")
    assert mail.smtp_password == "pw-0123456789"
    assert "pw-0123456789" not in repr(mail)
    implicit = mail_settings.from_env(
        {"SMTP_HOST": "h", "SMTP_TLS": "tls", "TOLLGATE_PUBLIC_URL": "https://t.example"},
        dev=False,
    )
    assert implicit is not None and implicit.smtp_port == 465


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SMTP_HOST": "h"}, "TOLLGATE_PUBLIC_URL"),
        ({"SMTP_HOST": "h", "TOLLGATE_PUBLIC_URL": "u", "SMTP_TLS": "ssl"}, "SMTP_TLS"),
        ({"SMTP_HOST": "h", "TOLLGATE_PUBLIC_URL": "u", "SMTP_USERNAME": "x"}, "SMTP_PASSWORD"),
        ({"SMTP_HOST": "h", "TOLLGATE_PUBLIC_URL": "u", "MAIL_FROM": "nobody"}, "MAIL_FROM"),
        ({"SMTP_HOST": "h", "TOLLGATE_PUBLIC_URL": "u", "MAIL_MAX_ATTEMPTS": "0"}, "ATTEMPTS"),
    ],
)
def test_a_wrong_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        mail_settings.from_env(env, dev=False)


def test_a_public_url_must_be_http() -> None:
    with pytest.raises(SettingsError, match="TOLLGATE_PUBLIC_URL"):
        mail_settings.public_url({"TOLLGATE_PUBLIC_URL": "javascript:alert(1)"})


def test_empty_variables_read_as_unset_as_compose_passes_them() -> None:
    passed = {"SMTP_PORT": "", "SMTP_TLS": "", "SMTP_USERNAME": "", "SMTP_PASSWORD": ""}
    assert mail_settings.from_env({**passed, "SMTP_HOST": "", "MAIL_FROM": ""}, dev=False) is None
    mail = mail_settings.from_env(
        {
            **passed,
            "SMTP_HOST": "smtp.example.com",
            "MAIL_FROM": "",
            "TOLLGATE_PUBLIC_URL": "https://tollgate.example",
        },
        dev=False,
    )
    assert mail is not None
    assert (mail.smtp_port, mail.smtp_tls, mail.smtp_username) == (587, "starttls", None)
    assert mail.mail_from == "Tollgate <no-reply@localhost>"
