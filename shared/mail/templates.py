"""Mail templates: a subject, a text body and an HTML body per mail and language.

`templates/<language>/<name>.subject.txt`, `.txt` and `.html` (the HTML ones
extend `templates/base.html`). HTML is autoescaped; text is not (it is text).
The language is the user's (`en` or `zh-CN`); anything else falls back to
English. Links are made here from the configured public base URL and a path
the caller gives: never from a request's Host header, and a path that would
leave the base (`//host`, a scheme) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
from yarl import URL

from shared.mail.outbox import Mail

LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"
TEMPLATES = (
    "verify_email",
    "reset_password",
    "notice",
    # Sign-up protection and notices (issue 16, point 8; services/auth/notices.py).
    "signup_existing_email",
    "key_created",
    "new_sign_in",
    # Account tokens and their notices (issue 16, points 2 and 3).
    "password_changed",
    "email_change_confirm",
    "email_changed",
    # Two-factor sign-in turned on or off (issue 16, point 5; services/auth/totp_handlers.py).
    "totp_enabled",
    "totp_disabled",
    "recovery_code_used",
    # The mailed sign-in link (issue 16, point 7; services/auth/sign_in_link.py).
    "sign_in_link",
    # Billing's low-balance alert (issue 18, point 7; services/billing/low_balance.py).
    "low_balance",
    # Spend anomalies, to the user and to the operators (issue 19, point 5;
    # services/billing/anomaly_alerts.py).
    "spend_anomaly",
    "spend_anomaly_operator",
)

_DIR = Path(__file__).with_name("templates")
_html = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_text = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_DIR),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, kw_only=True)
class Link:
    """A page of the public site: a path under the base URL and its query."""

    path: str
    query: Mapping[str, str]


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def link_url(public_url: str, link: Link) -> str:
    if not link.path.startswith("/") or link.path.startswith("//"):
        raise ValueError("a mail link is a path under the public URL")
    base = URL(public_url)
    joined = base.with_path(base.path.rstrip("/") + link.path).with_query(dict(link.query))
    if joined.origin() != base.origin():
        raise ValueError("a mail link must stay under the public URL")
    return str(joined)


def render(
    name: str,
    *,
    recipient: str,
    language: str | None,
    public_url: str,
    context: Mapping[str, object],
    link: Link | None = None,
) -> Mail:
    if name not in TEMPLATES:
        raise ValueError(f"no mail template {name!r}")
    lang = language_or_default(language)
    values: dict[str, object] = {"link": None, **context, "lang": lang}
    if link is not None:
        values["link"] = link_url(public_url, link)
    subject = _text.get_template(f"{lang}/{name}.subject.txt").render(values)
    subject = " ".join(subject.split())  # one line, whatever the context held
    values["subject"] = subject
    return Mail(
        recipient=recipient,
        template=name,
        language=lang,
        subject=subject,
        text=_text.get_template(f"{lang}/{name}.txt").render(values),
        html=_html.get_template(f"{lang}/{name}.html").render(values),
    )
