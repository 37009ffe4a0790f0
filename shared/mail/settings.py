"""Mail settings, read once from the environment by a sending service's settings.

SMTP_HOST               the mail server; dev default 127.0.0.1 (the mail sink);
                        unset outside dev: mails stay queued in the outbox
SMTP_PORT               default 8025 in dev, else 587 (465 with SMTP_TLS=tls)
SMTP_USERNAME           login, if the server wants one (with SMTP_PASSWORD)
SMTP_PASSWORD
SMTP_TLS                none, starttls or tls; dev default none, else starttls
MAIL_FROM               the From address; default "Tollgate <no-reply@localhost>"
TOLLGATE_PUBLIC_URL     the base of every link in a mail (never the request's
                        Host); dev default http://127.0.0.1:8080; required with SMTP_HOST
MAIL_MAX_ATTEMPTS       tries before a mail is dead; default 8
MAIL_RETRY_SECONDS      the first backoff, doubling per try up to an hour; default 30
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr

from shared import settings as read
from shared.mail.outbox import RetryPolicy
from shared.settings import Environ, SettingsError

TLS_MODES = ("none", "starttls", "tls")
DEV_PUBLIC_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True, kw_only=True)
class MailSettings:
    smtp_host: str
    smtp_port: int
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "none"
    # A CA bundle to verify the server's certificate with (a private CA); None: the system's.
    smtp_ca_file: str | None = None
    mail_from: str = "Tollgate <no-reply@localhost>"
    retry: RetryPolicy = RetryPolicy()
    poll_seconds: float = 1.0
    timeout_seconds: float = 30.0


def from_env(env: Environ, *, dev: bool) -> MailSettings | None:
    """The settings, or None when no mail server is configured (outside dev)."""
    host = env.get("SMTP_HOST", "127.0.0.1" if dev else "").strip()
    if not host:
        return None
    # Empty is unset (compose passes every variable, set or not).
    tls = env.get("SMTP_TLS", "").strip().lower() or ("none" if dev else "starttls")
    if tls not in TLS_MODES:
        raise SettingsError(f"SMTP_TLS must be none, starttls or tls, got {tls!r}")
    default_port = 8025 if dev else (465 if tls == "tls" else 587)
    username = env.get("SMTP_USERNAME", "").strip() or None
    password = env.get("SMTP_PASSWORD") or None
    if (username is None) != (password is None):
        raise SettingsError("SMTP_USERNAME and SMTP_PASSWORD are set together or not at all")
    mail_from = env.get("MAIL_FROM", "").strip() or "Tollgate <no-reply@localhost>"
    _, address = parseaddr(mail_from)
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        raise SettingsError(f"MAIL_FROM must be an address, got {mail_from!r}") from None
    if "@" not in address:
        raise SettingsError(f"MAIL_FROM must be an address, got {mail_from!r}")
    if not dev and not env.get("TOLLGATE_PUBLIC_URL"):
        raise SettingsError("TOLLGATE_PUBLIC_URL is required with SMTP_HOST (links in mails)")
    return MailSettings(
        smtp_host=host,
        smtp_port=read.port(env, "SMTP_PORT", default_port),
        smtp_username=username,
        smtp_password=password,
        smtp_tls=tls,
        smtp_ca_file=env.get("SMTP_CA_FILE", "").strip() or None,
        mail_from=mail_from,
        retry=RetryPolicy(
            max_attempts=read.integer(env, "MAIL_MAX_ATTEMPTS", 8, low=1, high=100),
            base_seconds=read.integer(env, "MAIL_RETRY_SECONDS", 30, low=1, high=3600),
        ),
    )


def public_url(env: Environ) -> str:
    """The base of links in mails: the site as people reach it, never a request's Host."""
    return read.url(env, "TOLLGATE_PUBLIC_URL", DEV_PUBLIC_URL, schemes=("http", "https"))
